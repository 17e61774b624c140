"""Dockerfiles of the per-language images, rendered from the language table.

The images must offer exactly the paths the table's commands name, so the Dockerfiles are
generated from the same table (``reflectseq sandbox dockerfiles``) rather than kept by hand; a
test fails when a committed Dockerfile differs from its rendering.
"""

from __future__ import annotations

from pathlib import Path

from reflectseq.languages import LANGUAGES_TOML, Language

NPM_PREFIX = "/usr/local/lib/reflectseq-npm"
IMAGES_DIR = LANGUAGES_TOML.parent
HEADER = (
    "# Generated from sandbox_images/languages.toml by `reflectseq sandbox dockerfiles`.\n"
    "# Edit the table and regenerate instead of editing this file.\n"
)


def render_dockerfile(language: Language) -> str:
    """The Dockerfile of ``language``'s sandbox image."""
    lines = [HEADER + f"FROM {language.docker_base}"]
    packages = list(language.debian_packages)
    if language.npm_packages:
        packages.append("npm")
    if packages:
        lines.append(
            "# hadolint ignore=DL3008\n"
            "RUN apt-get update \\\n"
            f" && apt-get install -y --no-install-recommends {' '.join(sorted(set(packages)))} \\\n"
            " && rm -rf /var/lib/apt/lists/*"
        )
    if language.npm_packages:
        specs = " ".join(language.npm_packages)
        lines.append(f"RUN npm install --no-audit --no-fund --prefix {NPM_PREFIX} {specs}")
    lines += [f"RUN {step}" for step in language.docker_setup]
    lines += ["WORKDIR /work", "USER 65534:65534"]
    return "\n".join(lines) + "\n"


def dockerfile_path(language: Language) -> Path:
    """Where the language's Dockerfile lives: ``sandbox_images/<code>/Dockerfile``."""
    return IMAGES_DIR / language.code / "Dockerfile"
