"""conf/logging.yml: quiet console, a rotating file, third-party noise filtered."""

from __future__ import annotations

import logging
import logging.config
import warnings
from pathlib import Path

import yaml

from coldstart.models.common import _duration
from coldstart.quiet import silence_known_noise

CONF = Path(__file__).resolve().parents[1] / "conf" / "logging.yml"


def test_logging_config_drops_dataset_chatter_and_writes_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    config = yaml.safe_load(CONF.read_text())
    saved = logging.root.handlers[:], logging.root.level
    try:
        logging.config.dictConfig(config)
        assert logging.getLogger("kedro.io.data_catalog").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("kedro.runner").getEffectiveLevel() == logging.INFO
        assert logging.getLogger("tensorflow").getEffectiveLevel() == logging.ERROR
        logging.getLogger("coldstart.test").info("a line the file must keep")
        logging.getLogger("kedro.io.data_catalog").info("Loading data from x")
        for handler in logging.root.handlers:
            handler.flush()
        text = (tmp_path / "logs" / "info.log").read_text()
        assert "a line the file must keep" in text and "Loading data from" not in text
    finally:
        for handler in logging.root.handlers:
            handler.close()
        logging.root.handlers[:] = saved[0]
        logging.root.setLevel(saved[1])


def test_known_noise_is_filtered_and_other_warnings_are_not():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_noise()
        warnings.warn(
            "register_new_resolver() is deprecated and will be removed", UserWarning, stacklevel=1
        )
        warnings.warn("something the user must see", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something the user must see"]


def test_epoch_durations_read_naturally():
    assert _duration(42.4) == "42 s"
    assert _duration(185) == "3 min 05 s"
    assert _duration(3720) == "1 h 02 min"
