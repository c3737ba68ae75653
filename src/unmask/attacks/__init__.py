"""Typographic attacks and the loaders of the public safety question sets.

``unmask attack KIND INPUT -o DIR`` (or :func:`build_benchmark`) turns a question set into a benchmark
folder: ``DIR/samples.jsonl`` (one :class:`unmask.data.records.Sample` per request: id, prompt, image path
relative to ``DIR`` or null, category, harmful flag, attack kind, the source row's fields),
``DIR/images/`` and ``DIR/manifest.json`` (input sha256, kind, parameters, font files and their
sha256, counts). The built-in kinds are ``figstep``, ``mmsb-typo``, ``mmsb-sd-typo``, ``image``,
``text`` and ``blank``; the built-in loaders ``safebench``, ``mmsb``, ``vlguard``, ``xstest``,
``harmbench``, ``advbench`` and ``jsonl``, and the sets that ship their images (``vlsbench``,
``jailbreakv``, ``mssbench``, ``siuo``, ``scienceqa``, ``mmvet``: :mod:`unmask.attacks.loaders_bench2026`).

Adding a kind or a loader (a plugin module; lazily: ``unmask.registry.lazy("attack kind", name, module)``)::

    from unmask.attacks import Attack, Question, attack, loader

    @attack("glyph-grid")                    # now `unmask attack glyph-grid ...` works
    class GlyphGrid(Attack):
        description = "the request as a 72x72 glyph grid"
        OPTIONS = {"prompt": None, "size": [72, 72]}   # accepted options and their defaults

        def prompt_for(self, q: Question) -> str:     # default: the request itself
            return self._template("Do what the image says.", q.text)   # --prompt overrides

        def render(self, q: Question):               # -> PIL image, mode "L" (gray) or "RGB"
            ...

        def render_key(self, q: Question):           # optional: equal keys share one image file
            return q.text

    @loader("my-set", detect=lambda p: p.suffix == ".mine")    # detect: optional, cheap, no raising
    def load_my_set(path, images=None) -> list[Question]:
        return [Question(id="1", text="...", harmful=False, source={...}, where=f"{path}: record 0")]

Protocol. An attack kind is a subclass of :class:`Attack`: ``makes_images`` (False: text only),
``OPTIONS`` (name -> default; the CLI passes ``--prompt``, ``--overflow``, ``--font``, ``--pictures``
and ``--option KEY=VALUE``; anything not listed is an error), ``prompt_for(q)``, ``render(q)``, and
optionally ``render_key(q)``, ``existing_image(q)`` (a picture the set ships: copied byte for byte),
``check(q)`` (cheap validation before anything is written, raise :class:`~unmask.errors.UnmaskError`
naming ``q.where``), ``fonts()`` (font files, hashed into the manifest), ``params()``, and what ``check``
gathered: ``extra_counts()`` (into the manifest's counts), ``manifest_extra()`` and ``notes(total)`` (lines
for stderr, e.g. how many rows FigStep clipped). Instances
go to worker processes: keep them picklable. Images are saved as RGB PNG, pixel-exact.

A loader is ``fn(path, **options) -> list[Question]`` (options it may take: ``images``, the folder of
the set's pictures, and ``subset``). Every error names the file and the row, on one line.
The module that registers must be imported before the kind is looked up: ``unmask attack --plugin
mymod ...`` imports it, and so does an entry point in the group ``unmask.plugins`` of an installed
package (``[project.entry-points."unmask.plugins"] mine = "mymod"``), read by :func:`unmask.registry.load_plugins`
wherever a name is resolved (``unmask attack`` and ``unmask run`` alike). The older group ``unmask.attacks``
is still read.
"""

from __future__ import annotations

from . import kinds as _kinds  # noqa: F401  (registers the built-in kinds)
from . import loaders_bench2026 as _loaders_bench2026  # noqa: F401  (VLSBench, JailBreakV, MSSBench, SIUO)
from . import loaders_csv as _loaders_csv  # noqa: F401  (registers the built-in loaders)
from . import loaders_json as _loaders_json  # noqa: F401
from .build import build_benchmark, load_questions
from .kinds import FIGSTEP_PROMPT, TYPO_PROMPT
from .registry import (
    ATTACKS,
    LOADERS,
    Attack,
    Question,
    attack,
    detect_loader,
    get_attack,
    get_loader,
    loader,
)

__all__ = [
    "ATTACKS",
    "FIGSTEP_PROMPT",
    "LOADERS",
    "TYPO_PROMPT",
    "Attack",
    "Question",
    "attack",
    "build_benchmark",
    "detect_loader",
    "get_attack",
    "get_loader",
    "load_questions",
    "loader",
]
