"""Errors with messages meant for users: each says what is wrong and, where it can, what to do."""


class DesktopSAEError(Exception):
    """Base class: the GUI and CLI show ``str(err)`` to the user as it is."""


class ModelLoadError(DesktopSAEError):
    """A model could not be found, downloaded or loaded."""


class UnsupportedArchitectureError(DesktopSAEError):
    """The model's architecture has no hook-point mapping."""


class HookPointError(DesktopSAEError):
    """A hook-point name is malformed or out of range for the model."""


class SAEFormatError(DesktopSAEError):
    """An SAE file or folder is missing, damaged or of an unknown format."""


class SAEMismatchError(DesktopSAEError):
    """An SAE does not fit the loaded model (width, hook layer, model name)."""


class SteeringError(DesktopSAEError):
    """A steering request names a bad feature, method or strength."""


class PresetError(DesktopSAEError):
    """A preset file is malformed or does not fit the loaded model/SAE."""


class NeuronpediaError(PresetError):
    """A Neuronpedia steering file is malformed, or names a model, SAE or method we do not have."""


class Cancelled(DesktopSAEError):
    """Raised inside long work when the user cancelled it."""


class AssetError(DesktopSAEError):
    """A model or SAE could not be imported, listed or downloaded (unknown format, hub unreachable, no space)."""

    unreachable = False  # True when the hub could not be reached at all (a cached copy may then do)


class RemoteModelError(DesktopSAEError):
    """A model run through nnsight could not be opened or reached (no API key, no network, a server that answers
    something else), or its server refused or failed the request."""
