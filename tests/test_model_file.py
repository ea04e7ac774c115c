"""Model files as every command reads them (staticnet/model_file.py): the keys, the optimizer and its rate."""
import os

import pytest

import staticnet as sn
from staticnet.model_file import chosen_optimizer, load_model_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_module_level_keys_reach_a_build_function_model():
    spec = load_model_file(os.path.join(ROOT, "examples", "mnist_cnn.py"))
    assert spec["flatten"] is False and spec["batch_size"] == 10


# ------------------------------------------------------------------ the optimizer and its learning rate

@pytest.mark.parametrize("in_file,option,lr,expected,rate,source", [
    ("sn.SGD(lr=3.0)", "adam", None, "Adam", 0.001, "Adam's default"),
    ("sn.SGD(lr=3.0)", "adamw", None, "AdamW", 0.001, "AdamW's default"),
    ("sn.SGD(lr=3.0)", "rmsprop", None, "RMSProp", 0.001, "RMSProp's default"),
    ("sn.SGD(lr=3.0)", "adagrad", None, "AdaGrad", 0.01, "AdaGrad's default"),
    ("sn.SGD(lr=3.0)", "sgd", None, "SGD", 3.0, "the model file's"),
    ("sn.Adam(lr=0.01)", "sgd", None, "SGD", 0.1, "the default"),
    ("sn.SGD(lr=3.0)", "adam", 0.05, "Adam", 0.05, "--lr"),
    ("sn.SGD(lr=3.0)", None, None, "SGD", 3.0, "the model file's"),
    ("sn.SGD(lr=3.0)", None, 0.2, "SGD", 0.2, "--lr"),
    ("None", None, None, "SGD", 0.1, "the default"),
])
def test_each_optimizer_gets_its_own_default_learning_rate(in_file, option, lr, expected, rate, source):
    optimizer, said = chosen_optimizer({"optimizer": eval(in_file, {"sn": sn})}, option, lr)
    assert (type(optimizer).__name__, optimizer.lr, said) == (expected, rate, source)


def test_the_file_s_own_optimizer_keeps_its_hyperparameters():
    given = sn.SGD(lr=3.0, momentum=0.9)
    optimizer, _ = chosen_optimizer({"optimizer": given}, "sgd")
    assert optimizer is given and optimizer.momentum == 0.9
