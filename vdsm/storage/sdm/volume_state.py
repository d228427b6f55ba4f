"""Generation and legality rules shared by the SDM jobs that change a volume.

Each change bumps the volume's generation (0..999, then back to 0), so
the engine can tell whether a job it lost track of did its work; a job
given an expected generation refuses a volume at any other one.
"""

from __future__ import annotations

from vdsm.storage.domains.volume import Volume, VolumeMetadata
from vdsm.storage.errors import GenerationMismatch
from vdsm.storage.sdm.endpoints import VolumeRef

MAX_GENERATION = 999


def next_generation(generation: int) -> int:
    return 0 if generation >= MAX_GENERATION else generation + 1


def checked_metadata(vol: Volume, ref: VolumeRef) -> VolumeMetadata:
    """The volume's metadata; GenerationMismatch when the caller expected
    another generation."""
    md = vol.metadata()
    if ref.generation is not None and md.generation != ref.generation:
        raise GenerationMismatch(
            f"Generation mismatch on {ref.vol_uuid}: expected {ref.generation}, "
            f"actual {md.generation}")
    return md
