"""A transcoder in a session: features are read at the MLP's input (``hook_mlp_in``) and steering adds decoder
directions at the MLP's output (``hook_mlp_out``), in generation and in the steered log-probabilities."""

import numpy as np
import pytest
import torch

from desktop_sae.core.engine.chat_prompt import text_ids
from desktop_sae.core.engine.hooks import capture, hooks
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import REFERENCE_TEXT, Session
from desktop_sae.core.steer_eval.reading import _log_probs
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.support.errors import SAEMismatchError
from tiny import random_sae, tiny_lm

IN, OUT = "blocks.1.hook_mlp_in", "blocks.1.hook_mlp_out"
FEATURE = 5


@pytest.fixture(scope="module")
def session():
    sae = random_sae(64, 128, arch="jumprelu_skip_transcoder", seed=3)
    return Session(tiny_lm(), sae)


def _ids(session):
    return session.prompt_ids("the quick brown fox jumps over the lazy dog", chat=False)


def _manual_logits(session, ids, delta_of):
    """Logits with the MLP output of layer 1 changed by ``delta_of(features read at its input)``, by hand."""
    read = {}

    def at_in(x):
        read["acts"] = session.sae.encode(x)

    def at_out(x):
        keep = torch.tensor([[0.0 if i in session.special_ids else 1.0 for i in ids]])[..., None]
        return x + delta_of(read["acts"]) * keep

    with torch.no_grad(), hooks(session.lm.model, {IN: at_in, OUT: at_out}):
        return session.lm.model(input_ids=torch.tensor([list(ids)])).logits[0]


def test_the_session_reads_at_the_input_and_writes_at_the_output(session):
    assert (session.hook_name, session.steer_hook_name) == (IN, OUT)
    assert session.describe()["sae"]["hook_out"] == OUT
    ids = _ids(session)
    _, _, acts = session.encode_text("the quick brown fox jumps over the lazy dog")
    with torch.no_grad():
        want = session.sae.encode(capture(session.lm.model, IN, input_ids=torch.tensor([ids])))[0]
    np.testing.assert_array_equal(acts, want.numpy())
    ref = text_ids(session.lm.tokenizer, REFERENCE_TEXT)  # the typical norm is the steering hook's, on this text
    out = capture(session.lm.model, OUT, input_ids=torch.tensor([ref]))[0]
    keep = [i for i, t in enumerate(ref) if t not in session.special_ids]
    assert session.typical_norm == pytest.approx(float(out[keep].norm(dim=-1).mean()), rel=1e-6)


@pytest.mark.parametrize("spec", [SteerSpec(FEATURE, 4.0, unit="raw"), SteerSpec(FEATURE, 3.0, method="clamp")],
                         ids=["add", "clamp"])
def test_steering_changes_the_output_hook_by_the_decoder_direction(session, spec):
    ids = _ids(session)
    steered = _log_probs(session, ids, SteeringConfig((spec,)))
    w = session.sae.W_dec[FEATURE]
    if spec.method == "add":
        want = _manual_logits(session, ids, lambda a: 4.0 * w)
    else:  # clamp: (target - the activation read at the input) times the decoder row, at the output
        want = _manual_logits(session, ids, lambda a: (3.0 - a[..., FEATURE:FEATURE + 1]) * w)
    torch.testing.assert_close(steered, torch.log_softmax(want.float(), -1), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(steered, _log_probs(session, ids), atol=1e-3)  # it did steer


def test_generation_steers_at_the_output_and_records_the_features_read_at_the_input(session):
    ids = _ids(session)
    steering = SteeringConfig((SteerSpec(FEATURE, 30.0, unit="raw"),))
    sc = SamplingConfig(temperature=0, frequency_penalty=0.0, max_new_tokens=6)
    res = session.generate("", sc, steering, prompt_ids=ids, watch=(FEATURE, 7))
    plain = session.generate("", sc, prompt_ids=ids, watch=(FEATURE, 7))
    assert res.answer_ids != plain.answer_ids
    seq = list(ids)  # greedy by hand, the whole sequence each step, the same change at the output
    for _ in range(len(res.answer_ids)):
        seq.append(int(_manual_logits(session, seq, lambda a: 30.0 * session.sae.W_dec[FEATURE])[-1].argmax()))
    assert tuple(seq[len(ids):]) == res.answer_ids
    # steering at layer 1's output cannot change what layer 1's MLP reads: the features are the unsteered model's
    with torch.no_grad():
        want = session.sae.encode(capture(session.lm.model, IN, input_ids=torch.tensor([seq])))[0]
    got = np.stack([e.watched for e in res.events])
    np.testing.assert_allclose(got, want[: len(res.events), [FEATURE, 7]].numpy(), rtol=1e-5, atol=1e-5)


def test_a_transcoder_must_fit_at_both_hooks():
    lm = tiny_lm()
    narrow = random_sae(64, 128, arch="transcoder", d_out=32)
    with pytest.raises(SAEMismatchError, match=r"output width=32 does not match .* 64 at blocks.1.hook_mlp_out"):
        Session(lm, narrow)
    with pytest.raises(SAEMismatchError, match="reads at blocks.1.hook_mlp_in and writes at blocks.1.hook_mlp_out; "
                                               "it cannot be moved to blocks.2.hook_mlp_in"):
        Session(lm).attach_sae(random_sae(64, 128, arch="transcoder"), "blocks.2.hook_mlp_in")
    with pytest.raises(SAEMismatchError, match="layer 7 is out of range"):
        Session(lm, random_sae(64, 128, arch="transcoder", hook="blocks.7.hook_mlp_in",
                               hook_name_out="blocks.7.hook_mlp_out"))


def _means_by_hand(session, text, hook):
    """A text's mean activation at ``hook`` over its ordinary tokens, sinks left out by their norm at the input hook
    (the rule text_means states), computed here with hand-placed captures."""
    from desktop_sae.core.features.contrast import SINK_FACTOR

    ids = session.prompt_ids(text, chat=False)
    with torch.no_grad():
        x = capture(session.lm.model, IN, input_ids=torch.tensor([ids]))[0].float()
        y = capture(session.lm.model, hook, input_ids=torch.tensor([ids]))[0].float()
    keep = torch.tensor([t not in session.special_ids for t in ids])
    norms = x.norm(dim=-1)
    keep &= norms <= SINK_FACTOR * norms[keep].median()
    return y[keep].mean(0).numpy()


def test_mean_difference_vectors_are_read_and_named_where_steering_adds_them(session):
    """The contrastive finder's and the steering evaluation's mean-difference baseline (both through
    ``session_mean_difference``) are differences of activations at the output hook, where the vector is added."""
    from desktop_sae.core.features.contrast import contrast, session_mean_difference, text_means

    pos, neg = ["the quick brown fox jumps"], ["over the lazy dog again and again"]
    res = contrast(session, pos, neg)
    assert (res.vector.hook, res.vector.model) == (OUT, session.lm.name)
    want = _means_by_hand(session, pos[0], OUT) - _means_by_hand(session, neg[0], OUT)
    np.testing.assert_allclose(np.asarray(res.vector.values, np.float32), want, rtol=1e-5, atol=1e-6)
    at_input = _means_by_hand(session, pos[0], IN) - _means_by_hand(session, neg[0], IN)
    assert np.abs(want - at_input).max() > 1e-2  # the input hook's difference would be another vector
    means = text_means(session, pos)
    acts = session.encode_text(pos[0])[2]  # features are still read at the input hook
    ids = session.prompt_ids(pos[0], chat=False)
    ordinary = [i for i, t in enumerate(ids) if t not in session.special_ids]
    np.testing.assert_allclose(means.features[0], acts[ordinary].mean(0), rtol=1e-5, atol=1e-6)
    again = session_mean_difference(session, means, text_means(session, neg), "again")
    assert again.hook == OUT and np.array_equal(np.asarray(again.values), np.asarray(res.vector.values))
