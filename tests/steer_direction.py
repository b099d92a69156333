"""Did steering move an answer the way it pushes? The app tests compare a steered answer with the unsteered one
from the same seed by reading both back without steering (``steer_eval.reading.reread_along``, on the app's
worker): the steered one must read higher along the steered features or vectors. A test that only asks that the
answer changed would pass with the sign flipped."""

from __future__ import annotations

from desktop_sae.app.messages import JobKind
from desktop_sae.core.engine.run_names import Run


def answer_events(ctl, run: Run = Run.MAIN) -> tuple:
    """The token events of the conversation's last answer for ``run``, after those of its prompt (the whole
    sequence the model read and wrote, in order)."""
    conv = ctl.conversation
    answer = next(t for t in reversed(conv.turns) if t.events).events[run]
    start = answer[0].index
    prompt = sorted((e for (r, i), e in conv.events.items() if r == run and e.is_prompt and i < start),
                    key=lambda e: e.index)
    return (*prompt, *answer)


def reread_along(ctl, events, steering=None, timeout: float = 60.0) -> float:
    """``reading.reread_along`` of an answer (its token events) along ``steering`` (default: the current one)."""
    from desktop_sae.core.steer_eval.reading import reread_along as along

    steering = steering or ctl.steering.config
    ids = [e.token_id for e in events]
    assert [e.index for e in events] == list(range(len(events))), "the events do not hold the whole sequence"
    positions = [i for i, e in enumerate(events) if not e.is_prompt]
    got: list = []
    ctl.jobs.submit(JobKind.SPAN, lambda session, state: along(session, ids, positions, steering),
                    on_done=got.append, on_failed=lambda m: got.append(AssertionError(m)), exclusive=False)
    ctl.wait_until(lambda: got, timeout, "the re-read")
    if isinstance(got[0], Exception):
        raise got[0]
    return float(got[0])


def assert_steered_towards(ctl, steered_events, plain_events, steering=None) -> tuple[float, float]:
    """The steered answer reads further along the steering than the plain one (returns both readings)."""
    steering = steering or ctl.steering.config
    s, p = reread_along(ctl, steered_events, steering), reread_along(ctl, plain_events, steering)
    assert s > p, f"steering did not move the answer its way: {s:.4f} steered vs {p:.4f} plain"
    return s, p
