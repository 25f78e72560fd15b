"""Several models in one server (serve.models): listed by GET /api/models, picked per request
with ?model=NAME, a watched folder's run folders offered as they appear, at most max_models
held in memory."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mnistlab.cli import main, predict_cmds
from mnistlab.errors import MnistlabError
from mnistlab.inference import Predictor
from mnistlab.runs import resolve_model
from mnistlab.serve import collect, create_app, models

SEVEN = (np.eye(28)[::-1] * 255).ravel().tolist()  # a slanting stroke, as 784 values


def copy_model(name: str, folder) -> None:
    """A shipped model's folder copied: a run folder like any other."""
    shutil.copytree(resolve_model(name), folder)


def probabilities(client: TestClient, query: str = "") -> list[float]:
    answer = client.post("/api/predict" + query, json={"pixels": SEVEN})
    assert answer.status_code == 200, answer.text
    return answer.json()["probabilities"]


def direct(name: str) -> list[float]:
    return (
        Predictor.from_path(resolve_model(name))
        .predict_pixels(np.array(SEVEN, np.uint8).reshape(1, 28, 28))[0]
        .probabilities
    )


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["message"], body
    return body


@pytest.fixture
def runs(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    return folder


def test_named_models_are_listed_and_each_answers_when_named(tmp_path):
    app = create_app({"lenet5": "lenet5", "quick": resolve_model("fast")})
    with TestClient(app) as client:
        listing = client.get("/api/models").json()
        assert listing["default"] == "lenet5" and listing["watching"] is False
        assert [(m["name"], m["default"], m["source"], m["loaded"]) for m in listing["models"]] == [
            ("lenet5", True, "named", True),
            ("quick", False, "named", True),
        ]
        assert probabilities(client) == pytest.approx(direct("lenet5"), abs=1e-6)
        assert probabilities(client, "?model=quick") == pytest.approx(direct("fast"), abs=1e-6)
        assert probabilities(client, "?model=lenet5") == probabilities(client)
        assert client.get("/api/model?model=quick").json()["name"] == "quick"
        assert client.get("/api/model").json()["name"] == "lenet5"


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/predict"),
        ("post", "/api/predict/batch"),
        ("post", "/api/read"),
        ("get", "/api/model"),
    ],
)
def test_an_unknown_model_is_a_400_naming_the_known_ones(method, path):
    with TestClient(create_app("lenet5")) as client:
        response = getattr(client, method)(path + "?model=nope&explain=true")
        body = assert_error(response, 400, "unknown_model")
        assert "'nope'" in body["message"] and "known: lenet5" in body["message"]


def test_a_run_folder_written_after_start_is_offered_and_answers(runs):
    app = create_app("lenet5", runs_dir=runs)
    with TestClient(app) as client:
        assert [m["name"] for m in client.get("/api/models").json()["models"]] == ["lenet5"]
        assert_error(
            client.post("/api/predict?model=me", json={"pixels": SEVEN}), 400, "unknown_model"
        )
        (runs / "half-written").mkdir()  # no model.json yet: not offered
        copy_model("sota-cpu", runs / "me")  # as `mnistlab finetune ... --out runs/me` would
        listing = client.get("/api/models").json()
        assert listing["watching"] is True
        assert [(m["name"], m["source"], m["loaded"]) for m in listing["models"]] == [
            ("lenet5", "named", True),
            ("me", "runs", False),
        ]
        spec = client.get("/openapi.json").json()  # the document says so too
        parameters = spec["paths"]["/api/predict"]["post"]["parameters"]
        assert {
            "name": parameters[-1]["name"],
            "enum": parameters[-1]["schema"]["enum"],
        } == {"name": "model", "enum": ["lenet5", "me"]}
        assert probabilities(client, "?model=me") == pytest.approx(direct("sota-cpu"), abs=1e-6)
        assert probabilities(client) == pytest.approx(direct("lenet5"), abs=1e-6)
        explained = client.post("/api/predict?model=me&explain=true", json={"pixels": SEVEN})
        assert len(explained.json()["explanation"]["neighbours"]) == 5
        assert client.get("/api/models").json()["models"][1]["loaded"] is True


def test_a_run_folder_fine_tuned_again_is_loaded_again(runs):
    copy_model("lenet5", runs / "me")
    with TestClient(create_app("sota-cpu", runs_dir=runs)) as client:
        assert probabilities(client, "?model=me") == pytest.approx(direct("lenet5"), abs=1e-6)
        shutil.rmtree(runs / "me")
        copy_model("fast", runs / "me")
        os.utime(runs / "me" / "model.json", ns=(1, 1))  # a new stamp, whatever the clock
        assert probabilities(client, "?model=me") == pytest.approx(direct("fast"), abs=1e-6)
        shutil.rmtree(runs / "me")  # and a folder that has gone is unknown again
        assert_error(client.get("/api/model?model=me"), 400, "unknown_model")


def test_at_most_max_models_are_held(runs):
    for name in ("a", "b", "c"):
        copy_model("lenet5", runs / name)
    with TestClient(create_app("fast", runs_dir=runs, max_models=2)) as client:
        for name in ("a", "b", "c", "a"):
            assert probabilities(client, f"?model={name}") == pytest.approx(
                direct("lenet5"), abs=1e-6
            )
            loaded = [m["name"] for m in client.get("/api/models").json()["models"] if m["loaded"]]
            # the named default stays; of the watched folder's, the one used last
            assert loaded == ["fast", name]


def test_a_run_folder_that_cannot_be_loaded_is_a_409(runs):
    copy_model("lenet5", runs / "broken")
    (runs / "broken" / "model.safetensors").write_bytes(b"not weights")
    with TestClient(create_app("lenet5", runs_dir=runs)) as client:
        body = assert_error(client.get("/api/model?model=broken"), 409, "model_unavailable")
        assert "'broken'" in body["message"]
        assert probabilities(client) == pytest.approx(direct("lenet5"), abs=1e-6)


def test_bad_model_sets_are_refused_at_start(tmp_path):
    with pytest.raises(MnistlabError, match="more than --max-models 1"):
        create_app({"a": "lenet5", "b": "fast"}, max_models=1)
    with pytest.raises(MnistlabError, match="not a model name"):
        create_app({"a b": "lenet5"})
    (tmp_path / "a-file").write_text("")
    with pytest.raises(MnistlabError, match="serve --runs"):
        create_app("lenet5", runs_dir=tmp_path / "a-file")
    create_app("lenet5", runs_dir=tmp_path / "not-yet")  # made, for run folders to come
    assert (tmp_path / "not-yet").is_dir()


def test_a_string_rule_of_an_older_mnistlab_fails_at_start_not_on_a_number(tmp_path, capsys):
    # four weights: fitted before the reader brought five kinds of evidence
    copy_model("lenet5", tmp_path / "old")
    meta = tmp_path / "old" / "model.json"
    record = json.loads(meta.read_text())
    record["calibration"]["reading"]["weights"] = [1.0] * 4
    meta.write_text(json.dumps(record))
    assert Predictor.from_path(tmp_path / "old").predict_pixels(np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(MnistlabError, match="mnistlab calibrate FOLDER"):
        create_app(tmp_path / "old")
    code = main(["serve", str(tmp_path / "old"), "--port", "0"])
    err = capsys.readouterr().err
    assert code != 0 and "weighs 4 kinds of evidence" in err and "Traceback" not in err


def test_a_watched_run_folder_with_an_older_string_rule_is_unavailable_with_the_remedy(runs):
    # the same rule in a folder written into --runs while serving: a 409 naming the remedy on
    # any route that names it (was: it loaded, and each number read with it was a 400 "this
    # image could not be processed", with a traceback in the log); the others answer as before
    copy_model("lenet5", runs / "old")
    meta = runs / "old" / "model.json"
    record = json.loads(meta.read_text())
    record["calibration"]["reading"]["weights"] = [1.0] * 4
    meta.write_text(json.dumps(record))
    with TestClient(create_app("lenet5", runs_dir=runs), raise_server_exceptions=False) as client:
        body = assert_error(client.get("/api/model?model=old"), 409, "model_unavailable")
        assert "mnistlab calibrate FOLDER" in body["message"]
        assert_error(client.post("/api/read?model=old"), 409, "model_unavailable")
        assert probabilities(client) == pytest.approx(direct("lenet5"), abs=1e-6)


def test_the_cli_refuses_two_models_of_one_name(tmp_path, capsys):
    for parent in ("x", "y"):
        copy_model("lenet5", tmp_path / parent / "me")
    code = main(["serve", str(tmp_path / "x" / "me"), str(tmp_path / "y" / "me"), "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "two models named 'me'" in err and "Traceback" not in err


def test_model_names_are_what_model_can_carry(tmp_path):
    predictor = Predictor.from_path("lenet5")
    assert models.model_name("lenet5", predictor) == "lenet5"
    copy_model("lenet5", tmp_path / "my run (2)")
    assert models.model_name(tmp_path / "my run (2)", predictor) == "my-run--2-"


def test_the_cli_defaults_are_the_library_defaults():
    assert predict_cmds.DEFAULT_MAX_MODELS == models.DEFAULT_MAX_MODELS
    assert predict_cmds.DEFAULT_MAX_DIGITS == collect.DEFAULT_MAX_DIGITS


def test_the_listing_is_json_the_schema_describes():
    with TestClient(create_app("lenet5")) as client:
        spec = client.get("/openapi.json").json()
        listing = client.get("/api/models").json()
    schema = spec["components"]["schemas"]["ModelsOut"]
    assert set(schema["required"]) == set(listing) and json.dumps(listing)
