"""Deep multimodal cold-start music recommendation (Oramas et al., DLRS 2017)."""

__version__ = "0.1.0"
