"""DefaultEvaluator: batched inference in length order, results back in input order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed

from plmkit.batching import Encoded, eval_loader
from plmkit.config.schema import ScratchModelConfig
from plmkit.models import build_model, train_tokenizer
from plmkit.stages.evaluate import DefaultEvaluator, EvalResult
from plmkit.tasks import TextClassification

LABELS = ["neg", "neu", "pos"]
WORDS = list("가나다라마바사아자차카타파하")


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Accelerate keeps one process-wide state; every test here builds its own Accelerator."""
    AcceleratorState._reset_state(reset_partial_state=True)
    yield


@pytest.fixture(scope="module")
def setup():
    """A 3-class tiny BERT with clear, varied argmaxes and rows of varied length."""
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 20)))) for _ in range(23)]
    tokenizer = train_tokenizer(texts, 100)
    task = TextClassification(labels=LABELS)
    scratch = ScratchModelConfig(
        architecture="bert", vocab_size=100, hidden_size=32, num_layers=1, num_heads=2
    )
    set_seed(0)
    model = build_model(scratch, task, tokenizer, 32)
    with torch.no_grad():  # larger random matrices than the init: rows get different classes
        for param in model.parameters():
            if param.ndim == 2:
                param.normal_(0, 2 / param.shape[1] ** 0.5)
    model.eval()
    ids = [f"row-{i:02d}" for i in range(len(texts))]
    targets = np.array([i % 3 for i in range(len(texts))], dtype=np.int64)
    input_ids = tokenizer(texts, truncation=True, max_length=32)["input_ids"]
    data = Encoded({"input_ids": input_ids}, ids, targets)
    return task, tokenizer, model, data


def reference(model, data: Encoded) -> torch.Tensor:
    """Logits row by row, without padding or batching."""
    with torch.no_grad():
        return torch.cat(
            [
                model(input_ids=torch.tensor([row.tolist()])).logits
                for row in data.inputs["input_ids"]
            ]
        )


def unlabelled(data: Encoded) -> Encoded:
    return Encoded(data.inputs, data.ids, None)


def evaluate(setup, data=None, batch_size=4, **kwargs) -> EvalResult:
    task, tokenizer, model, default = setup
    return DefaultEvaluator(task, batch_size=batch_size).evaluate(
        model, data or default, pad_id=tokenizer.pad_token_id, **kwargs
    )


def test_batches_really_are_out_of_input_order(setup):
    *_, data = setup
    order = [i for batch in eval_loader(data, 4, 0).batch_sampler for i in batch]
    assert order != list(range(len(data)))  # so the next test checks a real reordering
    assert len(set(data.lengths.tolist())) > 5


def test_predictions_come_back_in_input_order_with_ids(setup):
    task, _, model, data = setup
    out = evaluate(setup, with_predictions=True)
    table = out.predictions
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["id", "label", "pred", "prob"]
    assert table["id"].tolist() == data.ids.tolist()
    assert table["label"].tolist() == [LABELS[t] for t in data.targets]

    logits = reference(model, data)
    probs = logits.softmax(-1)
    assert table["pred"].tolist() == [LABELS[i] for i in probs.argmax(-1).tolist()]
    np.testing.assert_allclose(table["prob"].to_numpy(), probs.max(-1).values.numpy(), atol=1e-5)
    assert len(set(table["pred"])) > 1  # not a constant prediction


def test_metrics_agree_with_the_predictions(setup):
    _, _, model, data = setup
    out = evaluate(setup, with_predictions=True)
    table, metrics = out.predictions, out.metrics
    assert metrics["accuracy"] == pytest.approx((table["pred"] == table["label"]).mean())
    assert metrics["num_examples"] == len(data)
    matrix = [
        [int(((table["label"] == t) & (table["pred"] == p)).sum()) for p in LABELS] for t in LABELS
    ]
    assert metrics["confusion_matrix"]["matrix"] == matrix
    for name in LABELS:
        predicted = (table["pred"] == name).sum()
        hits = ((table["pred"] == name) & (table["label"] == name)).sum()
        expected = hits / predicted if predicted else 0.0
        assert metrics["per_class"][name]["precision"] == pytest.approx(expected)
    # The loss is the mean cross-entropy over rows, whatever the batches were.
    loss = torch.nn.functional.cross_entropy(reference(model, data), torch.as_tensor(data.targets))
    assert metrics["loss"] == pytest.approx(loss.item(), rel=1e-4)


@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_results_do_not_depend_on_the_batch_size(setup, batch_size):
    base = evaluate(setup, batch_size=4, with_predictions=True)
    other = evaluate(setup, batch_size=batch_size, with_predictions=True)
    assert other.predictions["pred"].tolist() == base.predictions["pred"].tolist()
    np.testing.assert_allclose(other.predictions["prob"], base.predictions["prob"], atol=1e-5)
    assert other.metrics["accuracy"] == base.metrics["accuracy"]
    assert other.metrics["loss"] == pytest.approx(base.metrics["loss"], rel=1e-5)


def test_without_targets_there_are_predictions_but_no_metrics(setup):
    *_, data = setup
    out = evaluate(setup, data=unlabelled(data), with_predictions=True)
    assert out.metrics == {}
    assert list(out.predictions.columns) == ["id", "pred", "prob"]
    assert out.predictions["id"].tolist() == data.ids.tolist()
    labelled = evaluate(setup, with_predictions=True).predictions
    assert out.predictions["pred"].tolist() == labelled["pred"].tolist()


def test_predictions_only_when_asked(setup):
    out = evaluate(setup)
    assert out.predictions is None
    assert set(out.metrics) >= {"accuracy", "macro_f1", "loss", "per_class"}


@pytest.mark.parametrize("training", [True, False])
def test_model_is_left_in_its_previous_mode(setup, training):
    _, _, model, _ = setup
    model.train(training)
    try:
        evaluate(setup)
        assert model.training is training
        assert all(m.training is training for m in model.modules())
        assert all(p.grad is None for p in model.parameters())
    finally:
        model.eval()


def test_evaluation_is_in_eval_mode_even_for_a_training_model(setup):
    """Dropout off: a model left in train mode still scores deterministically."""
    _, _, model, data = setup
    model.train()
    batch = torch.tensor([data.inputs["input_ids"][0].tolist()])
    with torch.no_grad():  # in train mode, dropout really changes the outputs
        assert not torch.equal(model(input_ids=batch).logits, model(input_ids=batch).logits)
    try:
        first = evaluate(setup, with_predictions=True).predictions["prob"].to_numpy()
        second = evaluate(setup, with_predictions=True).predictions["prob"].to_numpy()
        np.testing.assert_array_equal(first, second)
    finally:
        model.eval()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_cpu_model_is_evaluated_where_it_is_even_when_a_gpu_is_present(setup):
    """plmkit predict/evaluate load the model on the CPU; batches must follow it."""
    out = evaluate(setup, with_predictions=True)
    assert len(out.predictions) == len(setup[3])
