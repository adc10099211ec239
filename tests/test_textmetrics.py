from mckd.metrics.text import chunk_f1, chunks, exact_match, token_f1


def test_exact_and_token_f1():
    assert exact_match(["a b", "c"], ["a  b", "d"]) == 50.0
    assert token_f1(["a b c d"], ["a b"]) == 100.0 * (2 * 1.0 * 0.5 / 1.5)
    assert token_f1([""], [""]) == 100.0


def test_conlleval_chunks():
    assert chunks(["B-A", "I-A", "O", "B-B"]) == {(0, 2, "A"), (3, 4, "B")}
    assert chunks(["I-A", "I-A", "I-B"]) == {(0, 2, "A"), (2, 3, "B")}  # I- after O/other type starts
    assert chunks(["B-A", "B-A"]) == {(0, 1, "A"), (1, 2, "A")}
    assert chunks(["O", "O"]) == set()


def test_chunk_f1():
    gold = ["fly O to O boston B-city", "from O new B-city york I-city"]
    assert chunk_f1(gold, gold) == 100.0
    pred = ["fly O to O boston B-city", "from O new B-city york O"]
    # 1 of 2 chunks right in sentence 2 -> tp=1+0, gold 2, pred 2
    assert abs(chunk_f1(gold, pred) - 50.0) < 1e-9
    assert chunk_f1(gold, ["fly O", "from O new B-city york I-city"]) == 100.0 * 2 * (1 / 1) * (1 / 2) / 1.5
