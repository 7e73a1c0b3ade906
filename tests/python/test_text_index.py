"""Payload index parameters (`field_index_params`): kept, shown in `payload_schema` over REST
and gRPC, refused when unknown, and honoured by text filters (tokenizers, lowercase,
stopwords in Qdrant's 30 languages, stemmer, phrase), and Qdrant's validation texts."""

import grpc
import pytest
from qdrant_client import QdrantClient, models

from qhelpers import assert_error, assert_ok_envelope

DOCS = {
    1: "The quick brown fox jumps over the lazy dog",
    2: "Quick thinking saves the day",
    3: "A lazy afternoon with brown bread",
    4: "Foxes are running through the forest",
    5: "東京タワーに行きました",
}


def grpc_client(server) -> QdrantClient:
    return QdrantClient(url=server.url, grpc_port=server.grpc_port, prefer_grpc=True, timeout=30)


def _fill(client, name):
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(name, points=[models.PointStruct(id=i, vector=[1.0, float(i)], payload={"t": d}) for i, d in DOCS.items()], wait=True)


def _ids(client, name, match):
    flt = models.Filter(must=[models.FieldCondition(key="t", match=match)])
    return sorted(p.id for p in client.scroll(name, scroll_filter=flt, limit=100)[0])


@pytest.mark.parametrize("use_grpc", [False, True])
def test_text_index_params_kept_and_honoured(server, client, collection_name, use_grpc):
    c = grpc_client(server) if use_grpc else client
    _fill(c, collection_name)
    # Without an index: Qdrant's default processing (word tokenizer, lowercase; design 051).
    assert _ids(c, collection_name, models.MatchText(text="quick")) == [1, 2]
    assert _ids(c, collection_name, models.MatchText(text="fox")) == [1], "whole tokens, not substrings"
    params = models.TextIndexParams(
        type=models.TextIndexType.TEXT,
        tokenizer=models.TokenizerType.WORD,
        lowercase=True,
        phrase_matching=True,
        stopwords=models.StopwordsSet(languages=[models.Language.ENGLISH], custom=["afternoon"]),
        stemmer=models.SnowballParams(type=models.Snowball.SNOWBALL, language=models.SnowballLanguage.ENGLISH),
    )
    c.create_payload_index(collection_name, "t", field_schema=params, wait=True)
    info = c.get_collection(collection_name)
    schema = info.payload_schema["t"]
    assert schema.data_type == models.PayloadSchemaType.TEXT
    assert schema.params.tokenizer == models.TokenizerType.WORD
    assert schema.params.phrase_matching is True
    assert schema.points == 5
    assert _ids(c, collection_name, models.MatchText(text="QUICK")) == [1, 2]
    assert _ids(c, collection_name, models.MatchText(text="fox run")) == [4]  # stems: foxes, running
    assert _ids(c, collection_name, models.MatchText(text="fox")) == [1, 4]
    assert _ids(c, collection_name, models.MatchTextAny(text_any="bread day")) == [2, 3]
    assert _ids(c, collection_name, models.MatchPhrase(phrase="lazy dog")) == [1]
    assert _ids(c, collection_name, models.MatchPhrase(phrase="dog lazy")) == []
    assert _ids(c, collection_name, models.MatchText(text="afternoon")) == []  # a custom stopword
    hits = c.query_points(collection_name, query=[1.0, 0.0], query_filter=models.Filter(
        must=[models.FieldCondition(key="t", match=models.MatchText(text="brown"))]), limit=10).points
    assert sorted(p.id for p in hits) == [1, 3]


def test_prefix_and_multilingual_tokenizers(rest, client, collection_name):
    _fill(client, collection_name)
    assert_ok_envelope(rest.put(f"/collections/{collection_name}/index?wait=true", json={
        "field_name": "t", "field_schema": {"type": "text", "tokenizer": "prefix", "min_token_len": 2, "max_token_len": 10}}))
    assert _ids(client, collection_name, models.MatchText(text="laz bro")) == [1, 3]
    info = assert_ok_envelope(rest.get(f"/collections/{collection_name}"))
    assert info["payload_schema"]["t"] == {"data_type": "text", "points": 5, "params": {
        "type": "text", "tokenizer": "prefix", "min_token_len": 2, "max_token_len": 10}}
    assert_ok_envelope(rest.put(f"/collections/{collection_name}/index?wait=true", json={
        "field_name": "t", "field_schema": {"type": "text", "tokenizer": "multilingual"}}))
    assert _ids(client, collection_name, models.MatchText(text="東京")) == [5]
    assert _ids(client, collection_name, models.MatchPhrase(phrase="京東")) == []


def test_keyword_and_integer_params(rest, client, collection_name):
    _fill(client, collection_name)
    client.create_payload_index(collection_name, "tenant", field_schema=models.KeywordIndexParams(
        type=models.KeywordIndexType.KEYWORD, is_tenant=True, on_disk=True), wait=True)
    client.create_payload_index(collection_name, "n", field_schema=models.IntegerIndexParams(
        type=models.IntegerIndexType.INTEGER, lookup=False, range=True, is_principal=True), wait=True)
    schema = assert_ok_envelope(rest.get(f"/collections/{collection_name}"))["payload_schema"]
    assert schema["tenant"]["params"] == {"type": "keyword", "is_tenant": True, "on_disk": True}
    assert schema["n"]["params"] == {"type": "integer", "lookup": False, "range": True, "is_principal": True}


@pytest.mark.parametrize("schema,needle", [
    ({"type": "text", "tokeniser": "word"}, "unknown field `tokeniser`"),
    ({"type": "text", "tokenizer": "ngram"}, "unknown variant `ngram`"),
    ({"type": "integer", "lookup": False, "range": False}, "can't be both disabled"),
    ({"type": "text", "stopwords": "klingon"}, "klingon"),
    ({"type": "text", "stemmer": {"type": "snowball", "language": "elvish"}}, "elvish"),
    ({"type": "keyword", "lookup": True}, "unknown field `lookup`"),
    ("vector", "Unknown field schema"),
])
def test_bad_index_params_are_refused_and_change_nothing(rest, client, collection_name, schema, needle):
    _fill(client, collection_name)
    r = rest.put(f"/collections/{collection_name}/index?wait=true", json={"field_name": "t", "field_schema": schema})
    assert_error(r, 400, needle)
    assert assert_ok_envelope(rest.get(f"/collections/{collection_name}"))["payload_schema"] == {}


@pytest.mark.parametrize("use_grpc", [False, True])
def test_stopwords_of_other_languages(server, client, collection_name, use_grpc):
    c = grpc_client(server) if use_grpc else client
    c.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    docs = {1: "Der Hund und die Katze", 2: "Le chien et le chat", 3: "Die Maus"}
    c.upsert(collection_name, points=[models.PointStruct(id=i, vector=[1.0, 0.0], payload={"t": d}) for i, d in docs.items()],
             wait=True)
    c.create_payload_index(collection_name, "t", field_schema=models.TextIndexParams(
        type=models.TextIndexType.TEXT, lowercase=True,
        stopwords=models.StopwordsSet(languages=[models.Language.GERMAN, models.Language.FRENCH])), wait=True)
    assert _ids(c, collection_name, models.MatchText(text="hund")) == [1]
    # Stopwords of either language are no tokens: a text of only stopwords matches nothing.
    assert _ids(c, collection_name, models.MatchText(text="und")) == []
    assert _ids(c, collection_name, models.MatchText(text="le")) == []
    assert _ids(c, collection_name, models.MatchText(text="die maus")) == [3]
    schema = c.get_collection(collection_name).payload_schema["t"].params
    assert [str(getattr(lang, "value", lang)) for lang in schema.stopwords.languages] == ["german", "french"]


def test_qdrant_validation_texts(rest, collection_name):
    r = rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 0, "distance": "Dot"}})
    assert assert_error(r, 422) == "Validation error in JSON body: [vectors.size: value 0 invalid, must be from 1 to 65536]"
    r = rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 70000, "distance": "Dot"}})
    assert assert_error(r, 422) == "Validation error in JSON body: [vectors.size: value 70000 invalid, must be from 1 to 65536]"
    r = rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 0})
    assert assert_error(r, 422) == "Validation error in JSON body: [shard_number: value 0 invalid, must be 1 or larger]"
    r = rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}, "hnsw_config": {"ef_construct": 2}})
    assert assert_error(r, 422) == "Validation error in JSON body: [hnsw_config.ef_construct: value 2 invalid, must be 4 or larger]"
    assert rest.get(f"/collections/{collection_name}").status_code == 404
    r = rest.get(f"/collections/{collection_name}")
    assert assert_error(r, 404) == f"Not found: Collection `{collection_name}` doesn't exist!"
    rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}})
    r = rest.post(f"/collections/{collection_name}/points/scroll", json={"limit": 0})
    assert assert_error(r, 422) == "Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]"


@pytest.mark.parametrize("use_grpc", [False, True])
def test_writes_by_text_filter_match_as_reads_do(server, client, collection_name, use_grpc):
    """A delete or payload update by a full-text filter changes exactly the points a scroll with
    the same filter returns (tokens of the index, not substrings); the logged write names the
    ids it selected, so replicas and replays agree (unit-tested in `crates/shard/src/resolve.rs`)."""
    c = grpc_client(server) if use_grpc else client
    _fill(c, collection_name)
    c.upsert(collection_name, points=[models.PointStruct(id=6, vector=[1.0, 6.0], payload={"t": "quickly, quickly"})],
             wait=True)
    c.create_payload_index(collection_name, "t", field_schema=models.TextIndexParams(
        type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD, lowercase=True), wait=True)
    quick = models.MatchText(text="quick")
    assert _ids(c, collection_name, quick) == [1, 2], "token `quick`; `quickly` is another token"
    flt = models.Filter(must=[models.FieldCondition(key="t", match=quick)])
    c.set_payload(collection_name, payload={"tagged": True}, points=flt, wait=True)
    tagged = models.Filter(must=[models.FieldCondition(key="tagged", match=models.MatchValue(value=True))])
    assert sorted(p.id for p in c.scroll(collection_name, scroll_filter=tagged, limit=100)[0]) == [1, 2]
    c.delete(collection_name, points_selector=models.FilterSelector(filter=flt), wait=True)
    assert sorted(p.id for p in c.scroll(collection_name, limit=100)[0]) == [3, 4, 5, 6]
    # Once the index is gone, reads match the tokens of Qdrant's default processing (design 051).
    c.delete_payload_index(collection_name, "t", wait=True)
    assert _ids(c, collection_name, quick) == []
    assert _ids(c, collection_name, models.MatchText(text="QUICKLY")) == [6]
