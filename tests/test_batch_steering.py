"""Per-row steering in one batch (core/engine/batch_generation.py, SAETap.steer_rows): a strength sweep, mixed
methods, seeds and prompts answered together give each row the tokens ``Session.generate`` gives it alone, on the
transformers and the lite engine, in float32 and bfloat16, greedy and sampled; rows that end leave the batch; cancel
works between steps; bad steering is refused before anything runs."""

import numpy as np
import pytest
import torch

from desktop_sae.core.engine.batch_generation import generate_batch, generate_rows
from desktop_sae.core.engine.batch_rows import BatchRow
from desktop_sae.core.engine.lite import row_setup
from desktop_sae.core.engine.lite.choice import load_lite_model
from desktop_sae.core.engine.models import LoadedModel
from desktop_sae.core.engine.sae_tap import SAETap
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import Session
from desktop_sae.core.steering.specs import NO_STEERING, SteeringConfig, SteerSpec
from desktop_sae.core.support import row_kernels
from desktop_sae.core.support.errors import SteeringError
from tiny import random_sae, tiny_lm, tiny_model, tiny_tokenizer, with_stats

STRENGTHS = (-8.0, -2.0, 0.5, 2.0, 8.0, 32.0)
METHODS = {  # one steering row per strength
    "add": lambda s: SteerSpec(5, s, "max"),
    "clamp": lambda s: SteerSpec(9, s, "max", "clamp"),
    "orth": lambda s: SteerSpec(5, s / 8, method="orth"),
    "cap": lambda s: SteerSpec(5, -abs(s) / 64, method="cap"),  # (the tiny model's residual norm is ~0.2)
    "conditional": lambda s: SteerSpec(7, s, "max", when=(5, 0.0)),
}
GREEDY = SamplingConfig(temperature=0.0, max_new_tokens=12)
SAMPLED = SamplingConfig(seed=7, temperature=0.02, max_new_tokens=12)  # a random model's logits are flat
ENGINES = [("transformers", torch.float32), ("transformers", torch.bfloat16), ("lite", torch.float32),
           ("lite", torch.bfloat16)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    f = tmp_path_factory.mktemp("batch-steering") / "tiny-llama"
    tiny_model("llama", layers=3).save_pretrained(f)
    tiny_tokenizer().save_pretrained(f)
    return f


def _lm(folder, engine, dtype):
    if engine == "transformers":
        return tiny_lm("llama", dtype=dtype)
    model = load_lite_model(folder, torch.device("cpu"), dtype)
    row_setup.install(model, "onednn" if row_kernels._onednn_available() else "linear")  # as the app measures
    return LoadedModel(model=model, tokenizer=tiny_tokenizer(), name="tiny-llama", source="folder",
                       location=str(folder), device=torch.device("cpu"), dtype=dtype)


@pytest.fixture(scope="module", params=ENGINES, ids=lambda e: f"{e[0]}-{str(e[1])[6:]}")
def session(request, folder):
    lm = _lm(folder, *request.param)
    return Session(lm, with_stats(random_sae(d_sae=256, model_name=lm.name)))


def _logits(model, store):
    """Record every forward's logits (the lm_head's output)."""
    return model.get_output_embeddings().register_forward_hook(lambda m, a, out: store.append(out.detach().clone()))


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
@pytest.mark.parametrize("method", list(METHODS))
def test_a_sweep_in_one_batch_gives_every_row_its_own_answer(session, method, sampling):
    prompt = session.prompt_ids("tell me about the golden bridge")
    steerings = [NO_STEERING, *(SteeringConfig((METHODS[method](s),)) for s in STRENGTHS)]
    single = [session.generate("", sampling, st, prompt_ids=prompt) for st in steerings]
    batch = generate_batch(session, [prompt] * len(steerings), [sampling] * len(steerings), steerings)
    for a, b in zip(single, batch):
        assert (b.answer_ids, b.text, b.stop_reason, b.prompt_ids) == (a.answer_ids, a.text, a.stop_reason,
                                                                      a.prompt_ids)
    if sampling is GREEDY:  # the strengths steer apart (near-uniform sampled tokens of a random model often do not)
        assert len({b.answer_ids for b in batch}) > 2


def test_every_step_of_every_row_has_the_single_answers_logits(session):
    """Beyond the tokens: the logits each row sees at each step, as close as the dtype's rounding (bitwise where
    the kernels allow: docs/BATCHED_GENERATION.md)."""
    prompt = session.prompt_ids("a b c d")
    session.stop_ids, stops = (), session.stop_ids  # every row runs to its budget, so steps line up
    try:
        steerings = [SteeringConfig((SteerSpec(5, s, "max"), SteerSpec(9, s / 2, "max", "clamp"))) for s in STRENGTHS]
        alone = []
        for st in steerings:
            seen: list[torch.Tensor] = []
            with_hook = _logits(session.lm.model, seen)
            session.generate("", GREEDY, st, prompt_ids=prompt)
            with_hook.remove()
            alone.append(torch.stack([x[0, -1] for x in seen[: GREEDY.max_new_tokens]]).float())
        together: list[torch.Tensor] = []
        with_hook = _logits(session.lm.model, together)
        generate_batch(session, [prompt] * len(steerings), [GREEDY] * len(steerings), steerings)
        with_hook.remove()
    finally:
        session.stop_ids = stops
    assert [x.shape[0] for x in together] == [len(steerings)] * GREEDY.max_new_tokens  # one forward per step
    tol = 1e-5 if session.lm.dtype == torch.float32 else 1e-2
    for r, want in enumerate(alone):
        got = torch.stack([x[r, -1] for x in together]).float()
        torch.testing.assert_close(got, want, rtol=0, atol=tol)


def test_rows_that_end_leave_the_batch_and_keep_their_answers(session):
    prompt = session.prompt_ids("hello world")
    steerings = [SteeringConfig((SteerSpec(5, s, "max"),)) for s in (0.0, 4.0, 16.0)]
    budgets = (3, 12, 7)
    samplings = [SamplingConfig(seed=3, max_new_tokens=n) for n in budgets]
    first = session.generate("", samplings[1], steerings[1], prompt_ids=prompt).answer_ids
    session.stop_ids, stops = (first[5],), session.stop_ids  # the middle row meets a stop token at its 6th token
    try:
        single = [session.generate("", s, st, prompt_ids=prompt) for s, st in zip(samplings, steerings)]
        rows_per_step: list[int] = []
        embed = session.lm.model.get_input_embeddings()
        counting = embed.register_forward_hook(lambda m, a, out: rows_per_step.append(out.shape[0]))
        ended: list[int] = []
        batch = generate_batch(session, [prompt] * 3, samplings, steerings, on_answer=lambda i, a: ended.append(i))
        counting.remove()
    finally:
        session.stop_ids = stops
    assert [b.answer_ids for b in batch] == [a.answer_ids for a in single]
    assert [b.stop_reason for b in batch] == [a.stop_reason for a in single]
    assert single[1].stop_reason == "eos" and len(single[1].answer_ids) == 6
    lengths = [len(a.answer_ids) for a in single]
    # the forward that makes token k + 1 runs only the rows that need it: a row leaves once it has ended
    assert rows_per_step == [sum(n > k for n in lengths) for k in range(max(lengths))]
    assert rows_per_step[0] == 3 and rows_per_step[-1] < 3
    assert sorted(ended) == [0, 1, 2] and ended[0] == 0  # row 0 (3 tokens) ends first


def test_cancel_between_steps_and_answers_in_order(session):
    prompt = session.prompt_ids("the quick brown fox")
    steerings = [SteeringConfig((SteerSpec(5, s, "max"),)) for s in (1.0, 2.0)]
    calls = iter([False, False, False, True])  # before the prompt, then before each token
    ended: list[int] = []
    cut = generate_batch(session, [prompt] * 2, [GREEDY] * 2, steerings, cancel=lambda: next(calls, True),
                         on_answer=lambda i, a: ended.append(i))
    assert [a.stop_reason for a in cut] == ["cancelled"] * 2 and [len(a.answer_ids) for a in cut] == [2, 2]
    assert ended == [0, 1]
    full = generate_batch(session, [prompt] * 2, [GREEDY] * 2, steerings)
    assert all(c.answer_ids == f.answer_ids[:2] for c, f in zip(cut, full))
    before = generate_batch(session, [prompt] * 2, [GREEDY] * 2, steerings, cancel=lambda: True)
    assert [(a.answer_ids, a.stop_reason) for a in before] == [((), "cancelled")] * 2


def test_chunks_seeds_and_prompts_of_other_lengths(session):
    """The batch CLI's case: prompts x seeds, in chunks; prompts of different lengths are padded on the left."""
    prompts = [session.prompt_ids(p) for p in ("hi", "tell me about the golden bridge over the bay", "a b c d")]
    steer = SteeringConfig((SteerSpec(5, 4.0, "max"),))
    rows = [BatchRow(tuple(p), SamplingConfig(seed=seed, temperature=0.05, max_new_tokens=8), st)
            for p in prompts for seed in (1, 2) for st in (steer, NO_STEERING)]
    ended: list[int] = []
    chunked = generate_rows(session, rows, chunk=5, on_answer=lambda i, a: ended.append(i))
    alone = generate_rows(session, rows, chunk=1)  # one at a time, by Session.generate
    assert sorted(ended) == list(range(len(rows)))
    # on these tiny models padding changes no token; on the bundled model the bench counts agreeing rows
    assert [a.answer_ids for a in chunked] == [a.answer_ids for a in alone]
    assert [(a.text, a.stop_reason) for a in chunked] == [(a.text, a.stop_reason) for a in alone]
    steered, plain = chunked[0::2], chunked[1::2]
    assert any(a.answer_ids != b.answer_ids for a, b in zip(steered, plain))
    assert any(a.answer_ids != b.answer_ids for a, b in zip(plain[0::2], plain[1::2]))  # the seeds


def test_bad_input_is_refused_before_the_model_runs(session):
    prompt = session.prompt_ids("hi")
    ran: list[int] = []
    hook = session.lm.model.get_input_embeddings().register_forward_hook(lambda m, a, out: ran.append(1))
    try:
        with pytest.raises(SteeringError, match="feature 9999 does not exist"):
            generate_batch(session, [prompt] * 2, [GREEDY] * 2, [NO_STEERING, SteeringConfig((SteerSpec(9999, 1),))])
        with pytest.raises(ValueError, match="one steering"):
            generate_batch(session, [prompt] * 2, [GREEDY] * 2, [NO_STEERING])
        with pytest.raises(ValueError, match="at least one row"):
            generate_rows(session, [BatchRow(tuple(prompt), GREEDY)], chunk=0)
    finally:
        hook.remove()
    assert ran == []


def test_a_tap_steering_rows_steers_each_row_as_its_plan_alone():
    """``SAETap.steer_rows`` on a [B, T, d] batch: each row changes exactly as a tap with its own plan changes that
    row alone (rows that share a plan are steered together, rows without one are left as they are)."""
    torch.manual_seed(0)
    sae = with_stats(random_sae(d_sae=128, arch="jumprelu"))
    plans = [sae_plan(sae, s) for s in (SteerSpec(3, 4.0, "max"), SteerSpec(5, 2.0, "max", "clamp"),
                                        SteerSpec(7, 0.5, method="orth"), SteerSpec(9, 1.0, method="cap"),
                                        SteerSpec(11, 3.0, "max", when=(3, 0.01)))]
    shared, empty = plans[0], sae_plan(sae, None)
    row_plans = [*plans, shared, empty, shared]
    x = torch.randn(len(row_plans), 5, 64) * 3
    tap = SAETap(sae, empty)
    tap.record = False
    tap.steer_rows(row_plans)
    tap.mask = torch.ones(len(row_plans), 5)
    tap.mask[:, 0] = 0  # a special token: unsteered
    out = tap(x)
    assert out is not None
    for i, plan in enumerate(row_plans):
        alone = SAETap(sae, plan)
        alone.record = False
        alone.mask = tap.mask[i: i + 1]
        want = alone(x[i: i + 1])
        want = x[i: i + 1] if want is None else want
        if plan is shared:  # steered together with another row
            torch.testing.assert_close(out[i: i + 1], want, rtol=0, atol=1e-6)
        else:
            assert torch.equal(out[i: i + 1], want), i
    assert torch.equal(out[:, 0], x[:, 0]) and torch.equal(out[6], x[6])


def sae_plan(sae, spec):
    from desktop_sae.core.steering.plan import plan_steering

    return plan_steering(SteeringConfig(() if spec is None else (spec,)), sae)


def test_a_transcoder_sweep_steers_at_its_output_hook_row_by_row():
    lm = tiny_lm("llama")
    s = Session(lm, with_stats(random_sae(arch="transcoder", d_sae=128, model_name=lm.name)))
    assert s.hook_name != s.steer_hook_name
    prompt = s.prompt_ids("the bridge")
    steerings = [SteeringConfig((SteerSpec(4, v, "max"),)) for v in (0.0, 8.0, 64.0)]
    batch = generate_batch(s, [prompt] * 3, [GREEDY] * 3, steerings)
    assert [b.answer_ids for b in batch] == [s.generate("", GREEDY, st, prompt_ids=prompt).answer_ids
                                             for st in steerings]
    assert batch[0].answer_ids != batch[2].answer_ids


def test_a_sweeps_measures_read_many_answers_in_one_forward(session):
    """The log-probabilities and the KL of answers of different lengths (padded on the right), steered differently,
    read together equal those read one by one, within the dtype's rounding."""
    from desktop_sae.core.steer_eval.reading import (
        answer_logprobs,
        answer_logprobs_rows,
        kl_along,
        kl_along_rows,
        kl_and_logprobs_rows,
    )

    prompt = session.prompt_ids("tell me about the golden bridge")
    answers = [tuple(range(40, 40 + n)) for n in (5, 9, 1, 0, 7)]
    steerings = [SteeringConfig((METHODS[m](s),)) for m, s in zip(METHODS, (8.0, 2.0, -2.0, 4.0, 8.0))]
    tol = 1e-5 if session.lm.dtype == torch.float32 else 2e-2
    together = answer_logprobs_rows(session, [(prompt, a) for a in answers], chunk=3)
    kls = kl_along_rows(session, [(prompt, a, st) for a, st in zip(answers, steerings)], chunk=4)
    for a, st, lp, kl in zip(answers, steerings, together, kls):
        assert lp.shape == kl.shape == (len(a),)
        assert np.allclose(lp, answer_logprobs(session, prompt, a), rtol=0, atol=tol)
        assert np.allclose(kl, kl_along(session, prompt, a, st), rtol=0, atol=tol)
    assert max(float(k.max()) for k in kls if len(k)) > 0  # steered
    both = kl_and_logprobs_rows(session, [(prompt, a, st) for a, st in zip(answers, steerings)], chunk=4)
    for (k, lp), kl, own in zip(both, kls, together):  # the KL, and the unsteered reading from the same forward
        assert np.array_equal(k, kl) and np.allclose(lp, own, rtol=0, atol=tol)
