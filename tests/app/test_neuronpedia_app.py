"""Neuronpedia files through the controller (tiny model, plain thread): import applies steering, sampling and the
system prompt and hands back the prompt; a refused file changes nothing; export writes the last exchange."""

import json

import tiny
from desktop_sae.app.controller import Controller
from desktop_sae.app.neuronpedia_transfer import export_neuronpedia, import_neuronpedia, last_exchange
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.presets.store import PresetStore
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec

SRC = "1-res-tiny-sae"  # the tiny SAE: folder tiny-sae, blocks.1.hook_resid_post


def write(tmp_path, d, name="steer.json"):
    path = tmp_path / name
    path.write_text(json.dumps(d), encoding="utf-8")
    return path


def request(**kw):
    chat = [{"role": "system", "content": "Talk like a pirate."}, {"role": "user", "content": "Where is the bridge?"}]
    d = {"modelId": "tiny-llama", "features": [{"modelId": "tiny-llama", "layer": SRC, "index": 17, "strength": 6}],
         "strength_multiplier": 2, "steer_method": "SIMPLE_ADDITIVE", "temperature": 0.3, "n_tokens": 9,
         "freq_penalty": 0.5, "seed": 5, "steer_special_tokens": False, "steeredChatMessages": chat,
         "defaultChatMessages": chat}
    d.update(kw)
    return d


def test_import_applies_steering_sampling_and_system(ctl, tmp_path):
    changed = []
    ctl.steering.changed.connect(changed.append)
    imp = import_neuronpedia(ctl, write(tmp_path, request()))
    assert imp is not None and imp.prompt == "Where is the bridge?"
    steering, conv = ctl.steering.config, ctl.conversation
    (s,) = steering.features
    assert (s.feature, s.strength, s.unit, s.method) == (17, 6.0, "raw", "add")
    assert s.label == ctl.model.label(17)  # the catalog's label fills in a feature without an explanation
    assert steering.multiplier == 2.0 and steering.skip_special is True and changed
    assert (conv.sampling.temperature, conv.sampling.max_new_tokens, conv.sampling.seed) == (0.3, 9, 5)
    assert conv.system == "Talk like a pirate." and "imported" in ctl.notices.status


def test_a_refused_file_changes_nothing(ctl, tmp_path):
    ctl.steering.steer(3, 1.5)
    ctl.conversation.set_system("keep me")
    before = (ctl.steering.config, ctl.conversation.sampling, ctl.conversation.system)
    bad = request(features=[{"modelId": "tiny-llama", "layer": "1-res-jb", "index": 17, "strength": 6}])
    assert import_neuronpedia(ctl, write(tmp_path, bad)) is None
    assert "'1-res-jb'" in ctl.notices.last_error and SRC in ctl.notices.last_error
    late = request(features=[*request()["features"], {"modelId": "tiny-llama", "layer": SRC, "index": 999,
                                                         "strength": 1}])
    assert import_neuronpedia(ctl, write(tmp_path, late)) is None  # the first feature was fine; still nothing
    assert "feature 999 does not exist" in ctl.notices.last_error
    assert import_neuronpedia(ctl, tmp_path / "missing.json") is None and "cannot read" in ctl.notices.last_error
    assert (ctl.steering.config, ctl.conversation.sampling, ctl.conversation.system) == before


def test_import_waits_for_the_model(runner, tmp_path, tiny_sae_dir):
    c = Controller(runner, loader=tiny.make_loader(tiny_sae_dir), store=PresetStore(tmp_path / "p"))
    assert import_neuronpedia(c, write(tmp_path, request())) is None and "still loading" in c.notices.last_error


def test_export_writes_the_last_exchange_and_imports_back_the_same(ctl, tmp_path):
    ctl.steering.set_steering(SteeringConfig((SteerSpec(17, 2.0, "max", "add", True, "seventeen"),
                                              SteerSpec(4, -3.0)), 1.5))
    ctl.conversation.set_sampling(SamplingConfig(temperature=0.0, seed=11, max_new_tokens=6, top_p=0.9))
    ctl.conversation.set_system("Be brief.")
    ctl.conversation.set_compare(True)
    ctl.conversation.send("first question")
    ctl.wait_until(lambda: not ctl.conversation.busy, 30)
    ctl.conversation.send("second question")
    ctl.wait_until(lambda: not ctl.conversation.busy, 30)
    before = (ctl.steering.config, ctl.conversation.sampling, ctl.conversation.system)
    path = export_neuronpedia(ctl, tmp_path / "out.json")
    assert path is not None and "saved" in ctl.notices.status
    doc = json.loads(path.read_text(encoding="utf-8"))
    answer = ctl.conversation.turns[-1]
    assert doc["STEERED"] == answer.content and doc["DEFAULT"] == answer.default and doc["types"] == ["STEERED",
                                                                                                      "DEFAULT"]
    roles = [(m["role"], m["content"]) for m in doc["steeredChatMessages"]]
    assert roles == [("system", "Be brief."), ("user", "first question"),
                     ("assistant", ctl.conversation.turns[1].content), ("user", "second question")]
    assert doc["features"][0]["layer"] == SRC and doc["modelId"] == "tiny-llama"
    ctl.steering.clear()
    ctl.conversation.set_sampling(SamplingConfig())
    ctl.conversation.set_system("")
    imp = import_neuronpedia(ctl, path)
    assert imp.restored and imp.prompt == "second question" and imp.outputs["DEFAULT"] == answer.default
    assert (ctl.steering.config, ctl.conversation.sampling, ctl.conversation.system) == before


def test_export_refuses_clamp_and_writes_nothing(ctl, tmp_path):
    ctl.steering.steer(3, 1.0, "clamp")
    assert export_neuronpedia(ctl, tmp_path / "out.json") is None
    assert "clamp" in ctl.notices.last_error and not (tmp_path / "out.json").exists()


def test_last_exchange_without_an_answer_is_the_chat_so_far():
    from desktop_sae.app.conversation import Role, Turn

    assert last_exchange((Turn(Role.USER, "a"), Turn(Role.ERROR, "boom"))) == ([("user", "a")], {})
