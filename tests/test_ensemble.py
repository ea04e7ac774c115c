"""sn.ensemble: the plurality vote's tie rule against collections.Counter (the book's), the mean vote against
hand-built outputs, identical members against one model, mismatched members refused, and the mean
ensemble's ONNX export against onnxruntime."""
import collections

import numpy as np
import pytest

import staticnet as sn
from staticnet.ensemble import plurality_vote


def fixed_scores_model(scores: np.ndarray):
    """A compiled model whose output for row i of the identity matrix is scores[i] (x @ W with W = scores)."""
    rows, classes = scores.shape
    x, y = sn.input("x", (None, rows)), sn.input("y", (None, classes))
    p = x @ sn.param("W", value=scores.astype(np.float32))
    return sn.compile(sn.mse(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))


def softmax_model(seed: int, features: int = 6, classes: int = 4, hidden: int = 5):
    sn.seed(seed)
    x, y = sn.input("x", (None, features)), sn.input("y", (None, classes))
    p = sn.dense(sn.dense(x, hidden, activation="tanh"), classes, activation="softmax")
    return sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))


def test_plurality_vote_is_counter_most_common_on_random_votes():
    rng = np.random.default_rng(0)
    for members in range(1, 7):
        votes = rng.integers(0, 3, (members, 200))
        expected = [collections.Counter(column).most_common(1)[0][0] for column in votes.T.tolist()]
        np.testing.assert_array_equal(plurality_vote(votes, 3), expected)


def test_plurality_ties_go_to_the_class_voted_for_first_in_the_members_order():
    votes = np.array([[3, 5, 5, 3, 7],    # 3 and 5 tie at two votes; 3 was voted for first
                      [5, 3, 3, 5, 7],    # the same votes in another order: 5
                      [1, 2, 3, 4, 0],    # no two agree: the first member's
                      [2, 1, 1, 0, 0],    # 1 and 0 tie; 1 first
                      [0, 4, 4, 4, 0]])   # 4 has three votes
    rows, members = votes.shape
    rng = np.random.default_rng(1)
    members_scores = []
    for member in range(members):
        scores = rng.random((rows, 8)).astype(np.float32)
        scores[np.arange(rows), votes[:, member]] = 2.0  # each member's top class is its vote
        members_scores.append(scores)
    team = sn.ensemble([fixed_scores_model(s) for s in members_scores], vote="plurality")
    identity = np.eye(rows, dtype=np.float32)
    np.testing.assert_array_equal(team.predict(identity), [3, 5, 1, 1, 4])
    labels = np.array([3, 3, 1, 0, 4])  # rows 2 and 4 disagree with the vote
    assert team.evaluate({"x": identity, "y": np.eye(8, dtype=np.float32)[labels]}) == {"accuracy": 0.6, "errors": 2}


def test_the_mean_vote_averages_the_members_outputs():
    rng = np.random.default_rng(2)
    outputs = [rng.dirichlet(np.ones(5), 7).astype(np.float32) for _ in range(3)]
    team = sn.ensemble([fixed_scores_model(o) for o in outputs], vote="mean")
    identity = np.eye(7, dtype=np.float32)
    mean = (outputs[0].astype(np.float64) + outputs[1] + outputs[2]) / 3
    np.testing.assert_allclose(team.predict(identity), mean, rtol=1e-6)
    labels = rng.integers(0, 5, 7)
    errors = int(np.sum(np.argmax(mean, 1) != labels))
    assert team.evaluate({"x": identity, "y": np.eye(5, dtype=np.float32)[labels]}) == {
        "accuracy": pytest.approx(1 - errors / 7), "errors": errors}
    # the same members voting by plurality: the book's Counter over each row's top classes
    votes = np.stack([np.argmax(o, 1) for o in outputs])
    expected = [collections.Counter(column).most_common(1)[0][0] for column in votes.T.tolist()]
    np.testing.assert_array_equal(sn.ensemble(team.models).predict(identity), expected)


def test_an_ensemble_of_identical_models_is_that_model(tmp_path):
    net = softmax_model(seed=3)
    net.save(str(tmp_path / "net.snet"))
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    data = {"x": x, "y": np.eye(4, dtype=np.float32)[rng.integers(0, 4, 300)]}
    alone = net.predict(x)
    members = [net, str(tmp_path / "net.snet"), tmp_path / "net.snet"]
    mean = sn.ensemble(members, vote="mean")
    np.testing.assert_array_equal(mean.predict(x), alone)
    np.testing.assert_array_equal(sn.ensemble(members).predict({"x": x}), np.argmax(alone, 1))
    accuracy = net.evaluate(data)["accuracy"]
    for vote in ("plurality", "mean"):
        scores = sn.ensemble(members, vote=vote).evaluate(data)
        assert scores["accuracy"] == pytest.approx(accuracy, abs=1e-12)
        assert scores["errors"] == round((1 - accuracy) * 300)
        # the data as Model takes it: x and y as arrays, or (x, y), and batch_size by name
        assert sn.ensemble(members, vote=vote).evaluate(x, data["y"], batch_size=7) == scores
        assert sn.ensemble(members, vote=vote).evaluate((x, data["y"])) == scores


def test_mismatched_members_are_refused_naming_both():
    net = softmax_model(seed=0)
    wider = softmax_model(seed=0, features=7)
    more_classes = softmax_model(seed=0, classes=3)
    with pytest.raises(ValueError, match=r"ensemble at .*: model 2 takes input 'x' of shape \(None, 7\) float32, "
                                         r"model 1 \(None, 6\) float32: members must take the same inputs"):
        sn.ensemble([net, wider])
    with pytest.raises(ValueError, match=r"model 3 gives 3 classes, model 1 4: members must give the same classes"):
        sn.ensemble([net, net, more_classes])
    x, y = sn.input("pixels", (None, 6)), sn.input("y", (None, 4))
    p = sn.dense(x, 4, activation="softmax")
    renamed = sn.compile(sn.cross_entropy(p, y), outputs=p)
    with pytest.raises(ValueError, match=r"model 2 takes the inputs \['pixels'\], model 1 \['x'\]"):
        sn.ensemble([net, renamed])
    x, y = sn.input("x", (None, 6)), sn.input("y", (None,))
    score = sn.sum(sn.dense(x, 3), axis=1)
    regression = sn.compile(sn.mse(score, y), outputs=score)
    with pytest.raises(ValueError, match=r"model 1 outputs \(None,\) float32; an ensemble votes over one output "
                                         r"of class scores"):
        sn.ensemble([regression])
    with pytest.raises(ValueError, match="vote must be 'plurality' or 'mean', got 'median'"):
        sn.ensemble([net], vote="median")
    with pytest.raises(TypeError, match=r"give a non-empty list of models or .snet paths, got \[\]"):
        sn.ensemble([])
    with pytest.raises(TypeError, match=r"member 2 is 3 \(int\)|member 2 is 3"):
        sn.ensemble([net, 3])


def test_the_mean_ensemble_exports_to_onnx_and_computes_what_predict_does(tmp_path):
    onnx = pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    members = [softmax_model(seed=s) for s in (5, 6, 7)]
    members[1].save(str(tmp_path / "second.snet"))
    team = sn.ensemble([members[0], str(tmp_path / "second.snet"), members[2]], vote="mean")
    team.export_onnx(str(tmp_path / "team.onnx"))
    model = onnx.load(str(tmp_path / "team.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["x"] and [o.name for o in model.graph.output] == ["output"]
    assert len(model.graph.initializer) == 3 * 4 + 1  # each member's two layers, and the count
    rows = np.random.default_rng(8).normal(size=(9, 6)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(tmp_path / "team.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": rows})[0], team.predict(rows), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match=r"a plurality vote has no ONNX form .*vote='mean'"):
        sn.ensemble(members).export_onnx(str(tmp_path / "vote.onnx"))
    assert not (tmp_path / "vote.onnx").exists()
    with pytest.raises(ValueError, match="is the file of model 2 .*never overwrites its own input"):
        team.export_onnx(str(tmp_path / "second.snet"))
