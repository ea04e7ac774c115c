"""A character-level language model: an embedding and a GRU read 24 characters and predict the next one.

The text is generated here from a small grammar (no download): sentences such as "the old sailor found a
green lamp near the harbour." Most of a word is certain once its first letters are read, and some choices
depend on words read earlier (a sentence opened with "when" ends with ", and then ..."), so the GRU should
beat a model that sees only the previous character (the bigram baseline printed beside it).

Run: python examples/char_gru.py [--epochs 10] [--hidden 128] [--seed 0]
"""
import argparse
import time

import numpy as np

import staticnet as sn

WORDS = {
    "adjective": ["old", "young", "green", "quiet", "heavy", "bright", "tired", "clever"],
    "noun": ["sailor", "lamp", "harbour", "garden", "teacher", "letter", "river", "window", "painter", "bridge"],
    "verb": ["found", "painted", "carried", "watched", "opened", "mended", "followed", "described"],
    "place": ["near the harbour", "under the bridge", "by the river", "in the garden", "at the window"],
}
CONTEXT = 24  # characters read before each prediction


def sentence(rng):
    def pick(kind):
        return WORDS[kind][rng.integers(len(WORDS[kind]))]

    def phrase():
        article = "the" if rng.random() < 0.6 else "a"
        return f"{article} {pick('adjective')} {pick('noun')}" if rng.random() < 0.5 else f"{article} {pick('noun')}"

    main = f"{phrase()} {pick('verb')} {phrase()} {pick('place')}"
    if rng.random() < 0.3:
        return f"when {main}, and then {phrase()} {pick('verb')} it."
    return main + "."


def text(characters, seed):
    rng = np.random.default_rng(seed)
    parts, length = [], 0
    while length < characters:
        parts.append(sentence(rng))
        length += len(parts[-1]) + 1
    return " ".join(parts)


def windows(codes):
    """(ids (n, CONTEXT), the next character's id (n,)) for every position of a text's codes."""
    ids = np.lib.stride_tricks.sliding_window_view(codes[:-1], CONTEXT)
    return {"ids": np.ascontiguousarray(ids), "next": codes[CONTEXT:]}


def build(vocabulary, hidden=128):
    ids = sn.input("ids", (None, CONTEXT), dtype="int64")
    following = sn.input("next", (None,), dtype="int64")
    p = sn.dense(sn.gru(sn.embedding(ids, vocabulary, 16), hidden), vocabulary, activation="softmax")
    return {"loss": sn.cross_entropy(p, sn.one_hot(following, vocabulary)), "outputs": p,
            "optimizer": sn.Adam(lr=0.003)}


def bigram_accuracy(train_codes, test, vocabulary):
    """How often the most frequent follower (in the training text) of the previous character is right."""
    counts = np.zeros((vocabulary, vocabulary), np.int64)
    np.add.at(counts, (train_codes[:-1], train_codes[1:]), 1)
    return float(np.mean(counts.argmax(1)[test["ids"][:, -1]] == test["next"]))


def sample(net, seed_text, alphabet, length, rng):
    """Text continued character by character, each drawn from the model's distribution."""
    index = {c: i for i, c in enumerate(alphabet)}
    codes = [index[c] for c in seed_text]
    for _ in range(length):
        p = net.predict(np.array([codes[-CONTEXT:]], np.int64))[0].astype(np.float64)
        codes.append(int(rng.choice(len(alphabet), p=p / p.sum())))
    return "".join(alphabet[c] for c in codes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sn.seed(args.seed)
    train_text, test_text = text(60_000, seed=1), text(10_000, seed=2)
    alphabet = sorted(set(train_text + test_text))
    codes = {name: np.array([alphabet.index(c) for c in t], np.int64)
             for name, t in (("train", train_text), ("test", test_text))}
    train, test = windows(codes["train"]), windows(codes["test"])
    spec = build(len(alphabet), args.hidden)
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"], metrics=["accuracy"])
    start = time.perf_counter()
    net.fit(train, epochs=args.epochs, batch_size=64, seed=args.seed, verbose=1)
    accuracy = net.evaluate(test)["accuracy"]
    print(f"GRU {args.hidden}, {args.epochs} epochs in {time.perf_counter() - start:.0f} s: next-character accuracy "
          f"{accuracy:.3f} on unseen text (the bigram baseline: {bigram_accuracy(codes['train'], test, len(alphabet)):.3f})")
    print(sample(net, test_text[:CONTEXT], alphabet, 200, np.random.default_rng(args.seed)))
