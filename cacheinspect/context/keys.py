"""Step keys and their evidence for ``context check --explain`` and friends: an image's config as a step
key needs it (:func:`base_image`), the keys of every step (:func:`compute_keys`, :func:`step_evidence`),
and resolving an image's keys from a registry (:func:`resolve_image`, the network edge).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from cacheinspect.dockerfile import Build
from cacheinspect.dockerfile.model import BaseImage
from cacheinspect.dockerfile.stepkeys import StepKey

from .verdicts import (
    ImageKeys,
    image_keys,
)

if TYPE_CHECKING:
    from cacheinspect.registry.options import RegistryOptions


def base_image(config: Mapping[str, Any] | None) -> BaseImage:
    """The part of an image config a step key needs (``Env``, ``WorkingDir``, ``User``, ``Shell``);
    wrong types are taken as absent, as Go's decoder would leave the fields zero."""
    c = config if isinstance(config, Mapping) else {}

    def strs(v: Any) -> tuple[str, ...]:
        return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else ()

    wd, user = c.get("WorkingDir"), c.get("User")
    return BaseImage(
        env=strs(c.get("Env")),
        workdir=wd if isinstance(wd, str) else "",
        user=user if isinstance(user, str) else "",
        shell=strs(c.get("Shell")),
    )


def compute_keys(
    build: Build,
    images: Mapping[str, ImageKeys],
    *,
    platform: str = "linux/amd64",
    network: str = "default",
    add_hosts: Sequence[str] = (),
    named_contexts: Iterable[str] = (),
    fingerprint: Mapping[str, Any] | None = None,
) -> tuple[Build, list[StepKey], list[StepKey] | None]:
    """Re-resolve ``build`` with its base images' configs (their ENV/WORKDIR/USER take part in expansion)
    and compute every step's own key. A base image's config comes from the registry, else from host A's
    fingerprint (``images``), else it is unknown (the steps that need it say so). The third value: the
    keys with every unknown config guessed as BuildKit's default (PATH only), None when none is unknown."""
    from cacheinspect.dockerfile import DockerfileError, resolve
    from cacheinspect.dockerfile.resolve import DEFAULT_PATH
    from cacheinspect.dockerfile.stepkeys import BuildOptions, step_keys

    configs: dict[str, BaseImage] = {}
    fp_images = (fingerprint or {}).get("images")
    for st in build.stages:
        if st.base_stage is not None or st.base == "scratch":
            continue
        k = images.get(st.base)
        if k is not None and k.config is not None:
            configs[st.base] = k.config
        elif isinstance(fp_images, Mapping) and isinstance(fp_images.get(st.base), Mapping):
            configs[st.base] = base_image(fp_images[st.base])
    rebuilt = build
    if build.dockerfile is not None:
        target = None if build.target is build.stages[-1] else build.target.name
        rebuilt = resolve(
            build.dockerfile, build_args=build.build_args, target=target, platform=platform, images=configs
        )
    opts = BuildOptions(
        network=network,
        add_hosts=tuple(add_hosts),
        platform=platform,
        images=configs,
        build_args=dict(build.build_args),
        named_contexts=frozenset(named_contexts),
    )
    keys = step_keys(rebuilt, opts)
    syntax = build.dockerfile.directives.get("syntax") if build.dockerfile is not None else None
    if syntax:
        # another frontend image may build other ops (new defaults, SOURCE_DATE_EPOCH, --parents):
        # its keys are the built-in frontend's as a guess, which only a match in A's cache proves
        import copy

        guesses = keys
        keys = [copy.copy(sk) for sk in keys]
        for sk in keys:
            sk.unknown = sk.unknown or f"the Dockerfile names another frontend (# syntax={syntax})"
        return rebuilt, keys, guesses
    unknown = [
        st.base
        for st in build.stages
        if st.base_stage is None and st.base != "scratch" and st.base not in configs
    ]
    if not unknown or build.dockerfile is None:
        return rebuilt, keys, None
    guessed = {**configs, **{u: BaseImage(env=(f"PATH={DEFAULT_PATH}",)) for u in unknown}}
    target = None if build.target is build.stages[-1] else build.target.name
    try:
        alt = resolve(
            build.dockerfile, build_args=build.build_args, target=target, platform=platform, images=guessed
        )
    except DockerfileError:
        return rebuilt, keys, None
    return rebuilt, keys, step_keys(alt, msgspec.structs.replace(opts, images=guessed))


def step_evidence(keys: Sequence[StepKey], rules: str = "v0.13") -> list[dict[str, Any]]:
    """What host A publishes about each step's own definition (the fingerprint's ``ops``): its CacheMap
    JSON under one rule set and the record digests under both, so host B can name the differing field."""
    out: list[dict[str, Any]] = []
    for k in keys:
        if k.op is None:
            continue
        out.append(
            {
                "stage": k.stage,
                "line": k.line,
                "keyword": k.keyword,
                "instruction": k.instruction,
                "rules": rules,
                "cachemap": k.op.json[rules].decode("utf-8", "replace"),
                "digest": dict(k.op.digest),
                **({"unknown": k.unknown} if k.unknown else {}),
            }
        )
    return out


# ------------------------------------------------------------------------------------------- I/O edge
async def resolve_image(ref: str, options: RegistryOptions, platform: str) -> ImageKeys:
    """Resolve a FROM / ``COPY --from`` image the way BuildKit will here and compute its keys.

    Any failure (no network, no such image, auth) gives an :class:`ImageKeys` with ``error`` set: the
    step's verdict is then ``unknown``, never a guess.
    """
    from cacheinspect.errors import CacheInspectError
    from cacheinspect.oci import ImageConfig, Manifest, decode
    from cacheinspect.reference import parse_reference
    from cacheinspect.registry.source import RegistrySource

    try:
        r = parse_reference(ref)
        async with RegistrySource(r, options) as src:
            top = await src.fetch_manifest()
            m = decode(top.data, Manifest, what=f"manifest of {ref}")
            digests = [top.digest]
            if m.manifests is not None and m.config is None:
                want = platform.split("/")
                chosen = None
                for d in m.manifests:
                    p = d.platform
                    if p is None:
                        continue
                    if (
                        p.os == want[0]
                        and p.architecture == (want[1] if len(want) > 1 else "")
                        and (len(want) < 3 or (p.variant or "") == want[2])
                    ):
                        chosen = d
                        break
                if chosen is None:
                    return ImageKeys(ref=ref, error=f"no {platform} image in {ref}")
                sub = await src.fetch_manifest(chosen.digest)
                m = decode(sub.data, Manifest, what=f"manifest {chosen.digest} of {ref}")
                digests.append(sub.digest)
            if m.config is None:
                return ImageKeys(ref=ref, error=f"{ref} is not an image")
            cfg = decode(await src.fetch_blob(m.config.digest), ImageConfig, what=f"image config of {ref}")
            diff_ids = list(cfg.rootfs.diff_ids) if cfg.rootfs else []
            keys = image_keys(ref, digests, platform, diff_ids)
            return msgspec.structs.replace(keys, config=base_image(cfg.config))
    except CacheInspectError as e:
        return ImageKeys(ref=ref, error=e.message)
