"""The web dashboard at /dashboard in a real headless browser (see `browser.py`): every page
loads without console errors and without fetching anything from another origin, works with an
API key typed into the page, the search console shows results, snapshots are created from it,
and the cluster map shows a killed peer's replicas turning Dead, then Active after it restarts."""

from __future__ import annotations

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from browser import console_errors, foreign_requests, screenshot, start_browser
from cluster_harness import Cluster, result
from quiver_server import QuiverServer

KEY = "dashboard-test-key"


@pytest.fixture
def downloads(tmp_path):
    return tmp_path / "downloads"


@pytest.fixture
def driver(downloads):
    downloads.mkdir()
    d = start_browser(downloads)
    yield d
    d.quit()


def wait_for(driver, predicate, timeout=20, desc=""):
    """Polls `predicate` until it holds (bounded). The cluster map is redrawn every second, so an
    element found in one poll may be gone in the next: that poll just does not count."""
    wait = WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(lambda d: predicate(d), message=desc)


def rows(driver, table_id):
    return driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")


def open_page(driver, base, page):
    driver.get(f"{base}/dashboard#{page}")
    wait_for(driver, lambda d: d.find_element(By.ID, f"page-{page}").is_displayed(), desc=f"page {page}")


def fill(driver, element_id, text):
    box = driver.find_element(By.ID, element_id)
    box.clear()
    box.send_keys(text)


def seed(url):
    h = {"api-key": KEY}
    r = requests.put(url + "/collections/demo", headers=h, timeout=10,
                     json={"vectors": {"size": 4, "distance": "Cosine"}})
    assert r.status_code == 200, r.text
    cities = ["Berlin", "London", "Paris"]
    points = [{"id": i, "vector": [1.0, i % 3, i % 5, 0.5], "payload": {"city": cities[i % 3], "n": i}}
              for i in range(1, 31)]
    r = requests.put(url + "/collections/demo/points?wait=true", headers=h, json={"points": points}, timeout=10)
    assert r.status_code == 200, r.text


def test_pages_with_api_key_search_and_snapshots(driver, downloads):
    with QuiverServer(env={"QDRANT__SERVICE__API_KEY": KEY}) as srv:
        seed(srv.url)
        assert requests.get(srv.url + "/dashboard", timeout=5).status_code == 200  # assets are open
        assert requests.get(srv.url + "/dashboard/missing.js", timeout=5).status_code == 404
        open_page(driver, srv.url, "cluster")
        # Without a key the API refuses, and the page says so.
        wait_for(driver, lambda d: "API key" in d.find_element(By.ID, "error").text, desc="401 shown")
        fill(driver, "api-key", KEY)
        driver.find_element(By.ID, "api-key-save").click()
        wait_for(driver, lambda d: len(rows(d, "peers")) == 1, desc="peer row")
        assert driver.execute_script("return sessionStorage.getItem('quiver.apiKey')") == KEY
        assert driver.execute_script("return localStorage.length + document.cookie.length") == 0
        console_errors(driver)  # the 401s before the key was typed in
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "td.replica[data-state='Active']"))
        screenshot(driver, "cluster-standalone")

        driver.find_element(By.CSS_SELECTOR, "nav a[data-page='collections']").click()
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#collections tr[data-collection='demo']"))
        driver.find_element(By.CSS_SELECTOR, "#collections tr[data-collection='demo']").click()
        wait_for(driver, lambda d: '"points_count": 30' in d.find_element(By.ID, "collection-info").text)
        screenshot(driver, "collections")

        driver.find_element(By.CSS_SELECTOR, "nav a[data-page='points']").click()
        wait_for(driver, lambda d: Select(d.find_element(By.ID, "points-collection")).options)
        fill(driver, "points-filter", '{"must": [{"key": "city", "match": {"value": "Paris"}}]}')
        driver.find_element(By.ID, "points-scroll").click()
        wait_for(driver, lambda d: len(rows(d, "points")) == 10, desc="10 Paris points")
        assert all("Paris" in r.text for r in rows(driver, "points"))
        rows(driver, "points")[0].click()
        wait_for(driver, lambda d: '"vector"' in d.find_element(By.ID, "point-detail").text, desc="point detail")
        screenshot(driver, "points")

        driver.find_element(By.CSS_SELECTOR, "nav a[data-page='search']").click()
        wait_for(driver, lambda d: Select(d.find_element(By.ID, "search-collection")).options)
        fill(driver, "search-request", '{"query": [1.0, 2.0, 4.0, 0.5], "limit": 3, "with_payload": true}')
        driver.find_element(By.ID, "search-run").click()
        wait_for(driver, lambda d: len(rows(d, "search-results")) == 3, desc="3 results")
        # Points 14 and 29 hold the vector closest to the query.
        assert rows(driver, "search-results")[0].get_attribute("data-id") in ("14", "29")
        screenshot(driver, "search")

        driver.find_element(By.CSS_SELECTOR, "nav a[data-page='snapshots']").click()
        wait_for(driver, lambda d: Select(d.find_element(By.ID, "snapshots-collection")).options)
        driver.find_element(By.ID, "snapshot-create").click()
        wait_for(driver, lambda d: len(rows(d, "snapshots")) == 1, timeout=30, desc="snapshot listed")
        name = rows(driver, "snapshots")[0].get_attribute("data-name")
        listed = requests.get(srv.url + "/collections/demo/snapshots", headers={"api-key": KEY}, timeout=5)
        assert [s["name"] for s in listed.json()["result"]] == [name]
        size = [s["size"] for s in listed.json()["result"]][0]
        rows(driver, "snapshots")[0].find_element(By.CSS_SELECTOR, "button.download").click()
        saved = downloads / name
        wait_for(driver, lambda d: saved.exists() and saved.stat().st_size == size, desc="snapshot downloaded")
        screenshot(driver, "snapshots")

        assert console_errors(driver) == []
        assert foreign_requests(driver, srv.url) == []
        assert driver.find_element(By.ID, "error").get_attribute("hidden") is not None


def replica_states(driver, peer_id):
    """The states drawn for `peer_id`'s replicas, read in one go (the map is redrawn every second)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(`td.replica[data-peer='${arguments[0]}']`)].map(c => c.dataset.state)",
        str(peer_id))


def cells_text(driver, selector):
    """The text of every element matching `selector`, read in one go."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)", selector)


def test_cluster_map_shows_dead_then_active(driver):
    with Cluster(3) as c:
        p = c.peer(0)
        result(p.put("/collections/live", json={"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 2,
                                                "replication_factor": 3}))
        result(p.put("/collections/live/points?wait=true",
                     json={"points": [{"id": i, "vector": [1.0, i]} for i in range(50)]}))
        victim = c.peer(2)
        open_page(driver, p.url, "cluster")
        wait_for(driver, lambda d: len(rows(d, "peers")) == 3, desc="3 peers")
        wait_for(driver, lambda d: replica_states(d, victim.peer_id) == ["Active", "Active"], desc="Active")
        assert len(cells_text(driver, "td.replica[data-primary='true']")) == 2  # one primary per shard
        assert sorted(cells_text(driver, "#peers tr td.role")) == ["follower", "follower", "leader"]
        screenshot(driver, "cluster")
        victim.kill()
        # The page refreshes itself: no reload.
        wait_for(driver, lambda d: replica_states(d, victim.peer_id) == ["Dead", "Dead"], timeout=30, desc="Dead")
        reachable = f"#peers tr[data-peer='{victim.peer_id}'] td.reachable"
        wait_for(driver, lambda d: any("down" in t for t in cells_text(d, reachable)), desc="peer down")
        screenshot(driver, "cluster-peer-down")
        victim.start()
        wait_for(driver, lambda d: replica_states(d, victim.peer_id) == ["Active", "Active"], timeout=60,
                 desc="Active again")
        assert console_errors(driver) == []
        assert foreign_requests(driver, p.url) == []
