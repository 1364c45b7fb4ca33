"""An LSTM part-of-speech tagger on a small made-up corpus, with sentences of different lengths.

Shows embeddings, a bidirectional LSTM over packed batches (pack_padded_sequence: each sentence
runs to its own length, so the backward direction starts at its last word, not in the padding),
per-token cross-entropy that ignores padding (ignore_index), and inference on sentences of any
length.
Run: python examples/lstm_tagger.py
"""

from __future__ import annotations

import random

import dyngraph as dg
import dyngraph.nn as nn
import dyngraph.nn.functional as F
from dyngraph.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

DET = ["the", "a", "every", "that"]
# Ambiguous words ("fish", "watch", "light", "book", ...) appear under two tags, so the tagger
# must read the context, which is what the bidirectional LSTM is for.
NOUN = ["dog", "cat", "bird", "child", "teacher", "apple", "book", "river", "city", "song",
        "fish", "watch", "light", "plant"]
VERB = ["sees", "eats", "reads", "likes", "finds", "sings", "crosses", "writes", "fish",
        "watch", "book", "plant"]
ADJ = ["small", "green", "quiet", "old", "happy", "bright", "light"]
ADV = ["quickly", "slowly", "often", "rarely"]
TAGS = ["PAD", "DET", "NOUN", "VERB", "ADJ", "ADV"]
PAD = 0


def make_sentence(rng: random.Random):
    """DET (ADJ) NOUN (ADV) VERB DET (ADJ) NOUN: lengths 5 to 8."""
    words, tags = [], []

    def add(pool, tag):
        words.append(rng.choice(pool))
        tags.append(tag)

    add(DET, "DET")
    if rng.random() < 0.5:
        add(ADJ, "ADJ")
    add(NOUN, "NOUN")
    if rng.random() < 0.4:
        add(ADV, "ADV")
    add(VERB, "VERB")
    add(DET, "DET")
    if rng.random() < 0.5:
        add(ADJ, "ADJ")
    add(NOUN, "NOUN")
    return words, tags


class Tagger(nn.Module):
    """Embedding -> bidirectional LSTM -> linear scores per tag."""

    def __init__(self, vocab: int, tags: int, emb: int = 32, hidden: int = 48):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb, padding_idx=PAD)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, tags)

    def forward(self, tokens, lengths):
        """Tag scores (B, T, tags) for padded tokens (B, T) with the sentences' true lengths."""
        packed = pack_padded_sequence(self.emb(tokens), lengths, batch_first=True,
                                      enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=tokens.shape[1])
        return self.out(h)


def batchify(sents, word_ix, tag_ix):
    """Pad a list of (words, tags) to the longest sentence in the batch; also the lengths."""
    n = max(len(w) for w, _ in sents)
    toks = dg.zeros(len(sents), n, dtype=dg.long)
    tags = dg.zeros(len(sents), n, dtype=dg.long)
    for i, (w, t) in enumerate(sents):
        toks[i, :len(w)] = dg.tensor([word_ix[x] for x in w])
        tags[i, :len(t)] = dg.tensor([tag_ix[x] for x in t])
    return toks, tags, [len(w) for w, _ in sents]


def main(epochs: int = 8, seed: int = 0):
    rng = random.Random(seed)
    dg.manual_seed(seed)
    data = [make_sentence(rng) for _ in range(600)]
    train, test = data[:500], data[500:]
    vocab = ["<pad>"] + sorted({w for s, _ in data for w in s})
    word_ix = {w: i for i, w in enumerate(vocab)}
    tag_ix = {t: i for i, t in enumerate(TAGS)}
    model = Tagger(len(vocab), len(TAGS))
    opt = dg.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(epochs):
        rng.shuffle(train)
        total = 0.0
        for i in range(0, len(train), 32):
            toks, tags, lengths = batchify(train[i:i + 32], word_ix, tag_ix)
            scores = model(toks, lengths)
            loss = F.cross_entropy(scores.reshape(-1, len(TAGS)), tags.reshape(-1),
                                   ignore_index=PAD)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        if epoch % 2 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch + 1:2d}: mean loss {total / (len(train) / 32):.4f}")

    model.eval()
    correct = count = 0
    with dg.no_grad():
        toks, tags, lengths = batchify(test, word_ix, tag_ix)
        pred = model(toks, lengths).argmax(-1)
        mask = tags != PAD
        correct = int(((pred == tags) & mask).sum())
        count = int(mask.sum())
        words, _ = test[0]
        one = model(dg.tensor([[word_ix[w] for w in words]]), [len(words)]).argmax(-1)[0].tolist()
    print(f"test token accuracy: {correct / count:.4f}")
    print(" ".join(f"{w}/{TAGS[t]}" for w, t in zip(words, one)))
    return correct / count


if __name__ == "__main__":
    main()
