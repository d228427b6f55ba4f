"""uploadImage / downloadImage: a volume's bytes to or from an HTTP(S) URL.

As classic, both are SPM tasks (they answer a task id) and ``volUUID``
defaults to the image's leaf. "upload" PUTs the volume's data as it is
on disk (a qcow2 file stays qcow2) to ``methodArgs["url"]``; "download"
GETs the URL into the volume. Each also registers a host job of type
``storage`` under the task's id, so ``Host.getJobs`` shows its progress.

Download: the image is locked exclusively; once the server answered with
the image's size, the size is checked against the volume's capacity and a
block volume's LV extended to hold it (:mod:`.target`), and the volume is
marked ILLEGAL before the first byte is written; it turns LEGAL only after
the helper verified the whole size (bytes written == Content-Length) and
the file on disk has that size (an LV: at least). A refused size leaves
the volume as it was. Any failure (server gone mid-transfer, HTTP error,
timeout, abort, agent crash) leaves it ILLEGAL: never a half volume that
looks usable. Upload only reads (image lock shared) and changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Callable

from vdsm.common.errors import VdsmError
from vdsm.host.jobs import Job, JobRegistry
from vdsm.storage import constants as sc
from vdsm.storage import resources as rm
from vdsm.storage.domains import image
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.volume import Volume
from vdsm.storage.errors import (
    CopyImageError,
    ImageVerificationError,
    InvalidParameterException,
)
from vdsm.storage.transfer import runner, target
from vdsm.storage.transfer.http_helper import shown_url
from vdsm.storage.volume_copy import prepared
from vdsm.storage.volumes import domain_lock, image_lock
from vdsm.tasks.context import TaskContext

log = logging.getLogger(__name__)

JOB_TYPE = "storage"
TRANSFER_TIMEOUT = 6 * 3600.0


def check_method_args(method_args: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(url, headers) of classic methodArgs; only method "http" is known.
    Raises InvalidParameterException before a task is started."""
    if not isinstance(method_args, dict):
        raise InvalidParameterException("methodArgs must be a struct")
    if method_args.get("method") != "http":
        raise InvalidParameterException(
            f"Invalid parameter: unsupported sharing method "
            f"{method_args.get('method')!r} (only 'http')")
    url = method_args.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        shown = shown_url(url) if isinstance(url, str) else type(url).__name__
        raise InvalidParameterException(f"Invalid parameter: url {shown!r}")
    headers = method_args.get("headers") or {}
    if not isinstance(headers, dict):
        raise InvalidParameterException("Invalid parameter: headers must be a struct")
    return url, {str(k): str(v) for k, v in headers.items()}


class ImageTransfers:
    def __init__(self, cache: DomainCache, resources: rm.ResourceManager,
                 guard: Callable[[], None], jobs: JobRegistry,
                 error_code: Callable[[BaseException], int], *,
                 timeout: float = TRANSFER_TIMEOUT, retries: int = 3) -> None:
        self.cache = cache
        self.resources = resources
        self.guard = guard
        self.jobs = jobs
        self.error_code = error_code
        self.timeout = timeout
        self.retries = retries

    def task(self, op: str, sd_uuid: str, img_uuid: str, vol_uuid: str | None,
             method_args: dict[str, Any]) -> Callable[[TaskContext], None]:
        """The SPM task's job for ``op`` ("upload"/"download"); the
        arguments and the domain are checked now, before a task exists."""
        check_method_args(method_args)
        self.cache.produce(sd_uuid)
        run = self.upload if op == "upload" else self.download
        return lambda ctx: run(ctx, sd_uuid=sd_uuid, img_uuid=img_uuid,
                               vol_uuid=vol_uuid, method_args=method_args)

    def download(self, ctx: TaskContext, *, sd_uuid: str, img_uuid: str,
                 vol_uuid: str | None, method_args: dict[str, Any]) -> None:
        url, headers = check_method_args(method_args)
        shown = shown_url(url)
        with self._job(ctx, f"download {shown} into {sd_uuid}/{img_uuid}") as job, \
                self.resources.acquire([domain_lock(sd_uuid),
                                        image_lock(sd_uuid, img_uuid)]):
            vol = self._volume(sd_uuid, img_uuid, vol_uuid)
            md = vol.metadata()
            self.guard()

            def on_size(total: int) -> None:
                """Before the first byte: room for the image, then ILLEGAL
                until every byte is verified."""
                target.make_room(vol, md, total, guard=self.guard)
                self.guard()
                vol.update(legality=sc.ILLEGAL_VOL)

            with prepared(vol):
                result = runner.run("get", url, vol.path, headers=headers,
                                    progress=job.progress_to,
                                    aborting=lambda: ctx.aborting,
                                    timeout=self.timeout, retries=self.retries,
                                    on_size=on_size, device=target.is_device(vol))
                on_disk = vol.size()["apparentsize"]
            if result.bytes != result.total or not target.holds_image(vol,
                                                                     result.total):
                raise ImageVerificationError(
                    f"Image verification failed: {result.bytes} bytes received, "
                    f"{on_disk} on disk, {result.total} expected")
            ctx.check_abort()
            self.guard()
            vol.update(legality=sc.LEGAL_VOL)
            log.info("downloaded %s into %s/%s/%s: %d bytes, %d resumes", shown,
                     sd_uuid, img_uuid, vol.vol_uuid, result.total, result.resumes)

    def upload(self, ctx: TaskContext, *, sd_uuid: str, img_uuid: str,
               vol_uuid: str | None, method_args: dict[str, Any]) -> None:
        url, headers = check_method_args(method_args)
        with self._job(ctx, f"upload {sd_uuid}/{img_uuid} to {shown_url(url)}"
                       ) as job, \
                self.resources.acquire([domain_lock(sd_uuid),
                                        image_lock(sd_uuid, img_uuid, rm.SHARED)]):
            vol = self._volume(sd_uuid, img_uuid, vol_uuid)
            with prepared(vol):
                result = runner.run("put", url, vol.path, headers=headers,
                                    progress=job.progress_to,
                                    aborting=lambda: ctx.aborting,
                                    timeout=self.timeout, retries=self.retries)
            log.info("uploaded %s/%s/%s to %s: %d bytes", sd_uuid, img_uuid,
                     vol.vol_uuid, shown_url(url), result.total)

    def _volume(self, sd_uuid: str, img_uuid: str, vol_uuid: str | None) -> Volume:
        """The one volume transferred: as classic, an image of several
        volumes (or on a template) is refused with CopyImageError."""
        dom = self.cache.produce(sd_uuid)
        if not vol_uuid or vol_uuid == sc.BLANK_UUID:
            vol_uuid = None
        chain = image.chain(dom, img_uuid, vol_uuid)
        if len(chain) > 1:
            raise CopyImageError(
                f"low level Image copy failed: importing and exporting an image "
                f"with more than one volume is not supported ({img_uuid}: {chain})")
        return dom.volume(img_uuid, chain[0])

    @contextlib.contextmanager
    def _job(self, ctx: TaskContext, description: str) -> Iterator[Job]:
        """The host job mirroring the task (same id): done, or failed with
        the error's code, as the task ends."""
        job = self.jobs.add(JOB_TYPE, description, job_id=ctx.task_id)
        job.start()
        try:
            yield job
        except VdsmError as e:
            job.fail(self.error_code(e), str(e))
            raise
        except BaseException as e:
            job.fail(self.error_code(e), f"internal error: {type(e).__name__}")
            raise
        job.finish()

