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
FOLDER_OF = dict(zip(LAYERS, [f"0{i}_" for i in range(1, 9)], strict=True))


def _entries() -> dict[str, tuple[Path, dict]]:
    found = {}
    for path in sorted(CONF.glob("*/catalog*.yml")):
        for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
            if not name.startswith("_") and isinstance(entry, dict):
                found[f"{path.parent.name}/{name}"] = (path, entry)
    return found


def test_every_catalog_entry_has_a_layer_matching_its_folder():
    entries = _entries()
    assert len(entries) > 100
    layers = {}
    for name, (path, entry) in entries.items():
        layer = (entry.get("metadata") or {}).get("kedro-viz", {}).get("layer")
        assert layer in LAYERS, f"{path}: {name} declares no kedro-viz layer (or {layer!r})"
        inner = entry.get("dataset") if isinstance(entry.get("dataset"), dict) else {}
        where = str(entry.get("filepath") or entry.get("path") or inner.get("filepath") or "")
        if "/0" in where and layer != "raw":
            assert f"/{FOLDER_OF[layer]}" in where, f"{name}: layer {layer} but stored at {where}"
        layers[name] = layer
    print("\n".join(f"{layer:13s} {name}" for name, layer in sorted(layers.items())))


def test_every_node_is_tagged_with_its_stage():
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(CONF.parent)
    from coldstart.pipeline_registry import register_pipelines
    from coldstart.study.run import STAGES

    stages = {*STAGES, "releases"}
    default = register_pipelines()["__default__"]
    for node in default.nodes:
        assert node.tags & stages, f"node {node.name} has no stage tag ({sorted(node.tags)})"
