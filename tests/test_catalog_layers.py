"""Every catalog entry declares its kedro-viz layer; every node carries its stage tag."""

from __future__ import annotations

from pathlib import Path

import yaml

CONF = Path(__file__).resolve().parents[1] / "conf"
LAYERS = (
    "raw",
    "intermediate",
    "primary",
    "feature",
    "model_input",
    "models",
    "model_output",
    "reporting",
)


def _entries() -> dict[str, tuple[Path, dict]]:
    found = {}
    for path in sorted(CONF.glob("*/catalog*.yml")):
        for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
            if not name.startswith("_") and isinstance(entry, dict):
                found[f"{path.parent.name}/{name}"] = (path, entry)
    return found


def test_every_catalog_entry_declares_a_layer():
    entries = _entries()
    assert len(entries) > 60  # the files were read (rows' datasets are factories: ~80 entries)
    layers = {}
    for name, (path, entry) in entries.items():
        layer = (entry.get("metadata") or {}).get("kedro-viz", {}).get("layer")
        assert layer in LAYERS, f"{path}: {name} declares no kedro-viz layer (or {layer!r})"
        layers[name] = layer
    print("\n".join(f"{layer:13s} {name}" for name, layer in sorted(layers.items())))


def _layer_of(name: str, entries: dict[str, tuple[Path, dict]]) -> str | None:
    """The layer of ``name`` as Kedro resolves it: its own entry, else a matching pattern."""
    import re

    by_name = {key.split("/", 1)[1]: entry for key, (_, entry) in entries.items()}
    entry = by_name.get(name)
    if entry is None:
        for key, candidate in by_name.items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^.]+", re.escape(key)) + "$"
            if "{" in key and re.match(pattern, name):
                entry = candidate
                break
    return ((entry or {}).get("metadata") or {}).get("kedro-viz", {}).get("layer")


def test_every_dataset_of_the_run_has_a_layer_and_layers_only_go_forward():
    """kedro-viz draws layers only when they form a chain: no edge may point back."""
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(CONF.parent)
    from coldstart.pipeline_registry import register_pipelines

    entries = {k: v for k, v in _entries().items() if k.startswith("base/")}
    default = register_pipelines()["__default__"]
    datasets = {d for d in default.datasets() if not d.startswith("params:") and d != "parameters"}
    layer = {d: _layer_of(d, entries) for d in datasets}
    assert not [d for d, value in layer.items() if value is None]
    backwards = [
        (i, layer[i], o, layer[o], node.name)
        for node in default.nodes
        for i in node.inputs
        if i in layer
        for o in node.outputs
        if LAYERS.index(layer[o]) < LAYERS.index(layer[i])
    ]
    assert not backwards


def test_every_node_is_tagged_with_its_stage():
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(CONF.parent)
    from coldstart.pipeline_registry import register_pipelines
    from coldstart.study.run import STAGES

    stages = {*STAGES, "releases"}
    default = register_pipelines()["__default__"]
    for node in default.nodes:
        assert node.tags & stages, f"node {node.name} has no stage tag ({sorted(node.tags)})"
