// Quiver dashboard: a single page over Quiver's REST API (Qdrant's, plus GET /cluster/map).
// No external resources. The API key, if any, is kept in this tab's sessionStorage and sent in
// the `api-key` header of every call.
"use strict";

const KEY_STORAGE = "quiver.apiKey";
const PAGES = ["cluster", "collections", "points", "search", "snapshots"];
let clusterTimer = null;
let scrollOffset = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function $(id) { return document.getElementById(id); }

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

class ApiError extends Error {
  constructor(status, message) { super(`${status}: ${message}`); this.status = status; }
}

function headers(json) {
  const h = {};
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) h["api-key"] = key;
  if (json) h["content-type"] = "application/json";
  return h;
}

async function api(method, path, body) {
  const init = { method, headers: headers(body !== undefined) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const text = await response.text();
  let data = text;
  try { data = JSON.parse(text); } catch (_) { /* plain text answers (401/403) */ }
  if (!response.ok) {
    const message = data && data.status && data.status.error ? data.status.error : text;
    throw new ApiError(response.status, message);
  }
  return data && data.result !== undefined ? data.result : data;
}

async function guarded(action) {
  try {
    await action();
    showError("");
  } catch (e) {
    const hint = e.status === 401 || e.status === 403 ? " (enter an API key above)" : "";
    showError(`${e.message}${hint}`);
  }
}

function json(value) { return JSON.stringify(value, null, 2); }

function stateBadge(state) { return el("span", { class: `state state-${state}` }, state); }

// ---------------------------------------------------------------- cluster map

function renderPeers(map) {
  const body = $("peers").tBodies[0];
  body.replaceChildren(...map.peers.map((p) => el("tr", { "data-peer": p.peer_id },
    el("td", {}, String(p.peer_id), p.this_peer ? " (this peer)" : ""),
    el("td", { class: "role" }, p.role),
    el("td", {}, p.uri || "—"),
    el("td", { class: "reachable" }, el("span", { class: p.reachable ? "up" : "down" }, p.reachable ? "● up" : "○ down")))));
}

function renderShardMap(collection, peers) {
  const head = el("tr", {}, el("th", {}, "shard"), peers.map((p) => el("th", {}, `peer ${p.peer_id}`)));
  const rows = collection.shards.map((shard) => el("tr", {},
    el("td", {}, String(shard.shard_id)),
    peers.map((p) => {
      const replica = shard.replicas.find((r) => r.peer_id === p.peer_id);
      if (!replica) return el("td", { class: "replica none" }, "");
      const attrs = { class: "replica", "data-collection": collection.name, "data-shard": shard.shard_id,
        "data-peer": p.peer_id, "data-state": replica.state, "data-primary": replica.primary };
      return el("td", attrs, stateBadge(replica.state), replica.primary ? el("span", { class: "primary", title: "primary" }, "★") : null);
    })));
  return el("div", { class: "shard-map" },
    el("h2", {}, `Collection ${collection.name}`, el("small", {}, `  replication factor ${collection.replication_factor}`)),
    el("table", { "data-collection": collection.name }, el("thead", {}, head), el("tbody", {}, rows)));
}

function renderTransfers(map) {
  const rows = [];
  for (const c of map.collections) {
    for (const t of c.transfers) {
      const done = /(\d+)\s*\/\s*(\d+)/.exec(t.comment || "");
      const bar = done ? el("progress", { max: done[2], value: done[1] }) : null;
      rows.push(el("tr", {}, el("td", {}, c.name), el("td", {}, String(t.shard_id)), el("td", {}, String(t.from)),
        el("td", {}, String(t.to)), el("td", {}, `${t.sync ? "copy" : "move"} (${t.method || "stream_records"})`),
        el("td", {}, bar, " ", t.comment || "starting")));
    }
  }
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 6, class: "hint" }, "none")));
  $("transfers").tBodies[0].replaceChildren(...rows);
}

async function refreshCluster() {
  const map = await api("GET", "/cluster/map");
  const mode = map.cluster_enabled ? `term ${map.term}, commit ${map.commit}, leader ${map.leader}` : "standalone";
  $("cluster-summary").textContent = `peer ${map.peer_id} · ${mode}`;
  renderPeers(map);
  $("shard-maps").replaceChildren(...map.collections.map((c) => renderShardMap(c, map.peers)));
  renderTransfers(map);
}

// ---------------------------------------------------------------- collections

async function collectionNames() {
  const result = await api("GET", "/collections");
  return result.collections.map((c) => c.name).sort();
}

async function fillCollectionSelects() {
  const names = await collectionNames();
  for (const select of document.querySelectorAll(".collection-select")) {
    const current = select.value;
    select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    if (names.includes(current)) select.value = current;
  }
  return names;
}

async function showCollection(name) {
  const info = await api("GET", `/collections/${encodeURIComponent(name)}`);
  $("collection-title").textContent = `Collection ${name}`;
  $("collection-info").textContent = json(info);
}

async function refreshCollections() {
  const names = await collectionNames();
  const rows = [];
  for (const name of names) {
    const info = await api("GET", `/collections/${encodeURIComponent(name)}`);
    const params = info.config.params;
    rows.push(el("tr", { class: "clickable", "data-collection": name, onclick: () => guarded(() => showCollection(name)) },
      el("td", {}, name), el("td", {}, info.status), el("td", {}, String(info.points_count)),
      el("td", {}, String(info.indexed_vectors_count)), el("td", {}, String(params.shard_number)),
      el("td", {}, String(params.replication_factor))));
  }
  $("collections").tBodies[0].replaceChildren(...rows);
}

// ---------------------------------------------------------------- points

async function showPoint(collection, id) {
  const point = await api("GET", `/collections/${encodeURIComponent(collection)}/points/${encodeURIComponent(id)}`);
  $("point-title").textContent = `Point ${id}`;
  $("point-detail").textContent = json(point);
}

async function scrollPoints(fromStart) {
  const collection = $("points-collection").value;
  if (!collection) throw new ApiError(400, "no collection selected");
  const body = { limit: Number($("points-limit").value) || 10, with_payload: true, with_vector: false };
  const filter = $("points-filter").value.trim();
  if (filter) {
    try { body.filter = JSON.parse(filter); } catch (e) { throw new ApiError(400, `filter is not JSON: ${e.message}`); }
  }
  if (!fromStart && scrollOffset !== null) body.offset = scrollOffset;
  const page = await api("POST", `/collections/${encodeURIComponent(collection)}/points/scroll`, body);
  scrollOffset = page.next_page_offset;
  $("points-next").disabled = scrollOffset === null || scrollOffset === undefined;
  $("points").tBodies[0].replaceChildren(...page.points.map((p) => el("tr",
    { class: "clickable", "data-id": p.id, onclick: () => guarded(() => showPoint(collection, p.id)) },
    el("td", {}, String(p.id)), el("td", {}, JSON.stringify(p.payload || {})))));
}

// ---------------------------------------------------------------- search

async function runSearch() {
  const collection = $("search-collection").value;
  if (!collection) throw new ApiError(400, "no collection selected");
  let request;
  try { request = JSON.parse($("search-request").value); } catch (e) { throw new ApiError(400, `request is not JSON: ${e.message}`); }
  const started = performance.now();
  const result = await api("POST", `/collections/${encodeURIComponent(collection)}/points/query`, request);
  $("search-time").textContent = `${result.points.length} results in ${Math.round(performance.now() - started)} ms`;
  $("search-results").tBodies[0].replaceChildren(...result.points.map((p) => el("tr", { "data-id": p.id },
    el("td", {}, String(p.id)), el("td", {}, p.score.toFixed(4)), el("td", {}, JSON.stringify(p.payload || {})))));
}

// ---------------------------------------------------------------- snapshots

async function download(path, name) {
  const response = await fetch(path, { headers: headers(false) });
  if (!response.ok) throw new ApiError(response.status, await response.text());
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function refreshSnapshots() {
  const collection = $("snapshots-collection").value;
  if (!collection) { $("snapshots").tBodies[0].replaceChildren(); return; }
  const base = `/collections/${encodeURIComponent(collection)}/snapshots`;
  const list = await api("GET", base);
  $("snapshots").tBodies[0].replaceChildren(...list.map((s) => el("tr", { "data-name": s.name },
    el("td", {}, s.name), el("td", {}, `${s.size} bytes`), el("td", {}, s.creation_time || ""),
    el("td", {}, el("button", { class: "download", onclick: () => guarded(() => download(`${base}/${encodeURIComponent(s.name)}`, s.name)) }, "Download")))));
}

async function createSnapshot() {
  const collection = $("snapshots-collection").value;
  if (!collection) throw new ApiError(400, "no collection selected");
  await api("POST", `/collections/${encodeURIComponent(collection)}/snapshots?wait=true`);
  await refreshSnapshots();
}

// ---------------------------------------------------------------- navigation

async function showPage(page) {
  if (!PAGES.includes(page)) page = "cluster";
  for (const name of PAGES) $(`page-${name}`).classList.toggle("shown", name === page);
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.page === page);
  clearInterval(clusterTimer);
  clusterTimer = null;
  if (page === "cluster") {
    await guarded(refreshCluster);
    let busy = false;
    clusterTimer = setInterval(async () => {
      if (busy) return;
      busy = true;
      await guarded(refreshCluster);
      busy = false;
    }, 1000);
  } else if (page === "collections") {
    await guarded(refreshCollections);
  } else {
    await guarded(fillCollectionSelects);
    if (page === "snapshots") await guarded(refreshSnapshots);
  }
}

function showKeyState() {
  $("key-state").textContent = sessionStorage.getItem(KEY_STORAGE) ? "key set for this tab" : "no key";
}

function init() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key); else sessionStorage.removeItem(KEY_STORAGE);
    $("api-key").value = "";
    showKeyState();
    showPage(location.hash.slice(1));
  });
  $("points-scroll").addEventListener("click", () => guarded(() => scrollPoints(true)));
  $("points-next").addEventListener("click", () => guarded(() => scrollPoints(false)));
  $("search-run").addEventListener("click", () => guarded(runSearch));
  $("snapshot-create").addEventListener("click", () => guarded(createSnapshot));
  $("snapshots-collection").addEventListener("change", () => guarded(refreshSnapshots));
  window.addEventListener("hashchange", () => showPage(location.hash.slice(1)));
  showKeyState();
  showPage(location.hash.slice(1));
}

init();
