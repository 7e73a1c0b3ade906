//! `qdrant.Points`: thin delegation to the write and read conversions.

use crate::grpc::GrpcState;
use crate::grpc::auth::authorized;
use crate::grpc::{groups, points_read as read, points_write as write};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::points_server::Points;
use tonic::{Request, Response, Status};

type Reply<T> = Result<Response<T>, Status>;
type Op = Reply<pb::PointsOperationResponse>;

#[tonic::async_trait]
impl Points for GrpcState {
    async fn upsert(&self, request: Request<pb::UpsertPoints>) -> Op {
        write::upsert(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn delete(&self, request: Request<pb::DeletePoints>) -> Op {
        write::delete(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn get(&self, request: Request<pb::GetPoints>) -> Reply<pb::GetResponse> {
        read::get(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn update_vectors(&self, request: Request<pb::UpdatePointVectors>) -> Op {
        write::update_vectors(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn delete_vectors(&self, request: Request<pb::DeletePointVectors>) -> Op {
        write::delete_vectors(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn set_payload(&self, request: Request<pb::SetPayloadPoints>) -> Op {
        write::set_payload(&self.node, authorized(request)?, false).await.map(Response::new)
    }

    async fn overwrite_payload(&self, request: Request<pb::SetPayloadPoints>) -> Op {
        write::set_payload(&self.node, authorized(request)?, true).await.map(Response::new)
    }

    async fn delete_payload(&self, request: Request<pb::DeletePayloadPoints>) -> Op {
        write::delete_payload(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn clear_payload(&self, request: Request<pb::ClearPayloadPoints>) -> Op {
        write::clear_payload(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn create_field_index(&self, request: Request<pb::CreateFieldIndexCollection>) -> Op {
        write::create_field_index(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn delete_field_index(&self, request: Request<pb::DeleteFieldIndexCollection>) -> Op {
        write::delete_field_index(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn create_vector_name(&self, request: Request<pb::CreateVectorNameRequest>) -> Op {
        write::create_vector_name(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn delete_vector_name(&self, request: Request<pb::DeleteVectorNameRequest>) -> Op {
        write::delete_vector_name(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn search(&self, request: Request<pb::SearchPoints>) -> Reply<pb::SearchResponse> {
        read::search(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn search_batch(&self, request: Request<pb::SearchBatchPoints>) -> Reply<pb::SearchBatchResponse> {
        read::search_batch(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn search_groups(&self, request: Request<pb::SearchPointGroups>) -> Reply<pb::SearchGroupsResponse> {
        groups::search_groups(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn scroll(&self, request: Request<pb::ScrollPoints>) -> Reply<pb::ScrollResponse> {
        read::scroll(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn recommend(&self, request: Request<pb::RecommendPoints>) -> Reply<pb::RecommendResponse> {
        read::recommend(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn recommend_batch(&self, request: Request<pb::RecommendBatchPoints>) -> Reply<pb::RecommendBatchResponse> {
        read::recommend_batch(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn recommend_groups(&self, request: Request<pb::RecommendPointGroups>) -> Reply<pb::RecommendGroupsResponse> {
        groups::recommend_groups(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn discover(&self, request: Request<pb::DiscoverPoints>) -> Reply<pb::DiscoverResponse> {
        read::discover(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn discover_batch(&self, request: Request<pb::DiscoverBatchPoints>) -> Reply<pb::DiscoverBatchResponse> {
        read::discover_batch(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn count(&self, request: Request<pb::CountPoints>) -> Reply<pb::CountResponse> {
        read::count(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn update_batch(&self, request: Request<pb::UpdateBatchPoints>) -> Reply<pb::UpdateBatchResponse> {
        write::update_batch(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn query(&self, request: Request<pb::QueryPoints>) -> Reply<pb::QueryResponse> {
        read::query(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn query_batch(&self, request: Request<pb::QueryBatchPoints>) -> Reply<pb::QueryBatchResponse> {
        read::query_batch(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn query_groups(&self, request: Request<pb::QueryPointGroups>) -> Reply<pb::QueryGroupsResponse> {
        groups::query_groups(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn facet(&self, request: Request<pb::FacetCounts>) -> Reply<pb::FacetResponse> {
        super::analytics::facet(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn search_matrix_pairs(
        &self,
        request: Request<pb::SearchMatrixPoints>,
    ) -> Reply<pb::SearchMatrixPairsResponse> {
        super::analytics::matrix_pairs(&self.node, authorized(request)?).await.map(Response::new)
    }

    async fn search_matrix_offsets(
        &self,
        request: Request<pb::SearchMatrixPoints>,
    ) -> Reply<pb::SearchMatrixOffsetsResponse> {
        super::analytics::matrix_offsets(&self.node, authorized(request)?).await.map(Response::new)
    }
}
