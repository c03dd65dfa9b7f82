"""``knit plan template``: a plan YAML to start from, read from an image or written from scratch."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from knit_provider.cli.plan_cmds import plan
from knit_provider.core.image_config import read_docker_save, read_dockerfile
from knit_provider.core.knitenv import find_knitenv, load_knitenv
from knit_provider.core.plan_template import template_from_image, template_scratch


@plan.command()
@click.option("--scratch", is_flag=True, help="Write a generic template instead of reading an image.")
@click.option(
    "-i", "--input", "image_tar", default="-", show_default=True, metavar="TAR",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    help="A `docker save` tar to read the image from; - is stdin.",
)  # fmt: skip
@click.option(
    "--from-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Read a build context's Dockerfile (ENTRYPOINT, CMD, VOLUME, WORKDIR) instead of an image tar.",
)  # fmt: skip
@click.argument("image", required=False, metavar="[IMAGE:TAG]")
def template(scratch: bool, image_tar: str, from_dir: Path | None, image: str | None) -> None:
    """Print a plan YAML: inputs from paths under in/, outputs from paths under out/, tags from knitenv."""
    if scratch and (image or from_dir):
        raise click.UsageError("image:tag and --scratch are exclusive" if image else "--from-dir and --scratch")
    env = load_knitenv(find_knitenv(Path.cwd()))
    if scratch:
        text = template_scratch(env_tags=env.tags, env_resources=env.resources)
    elif from_dir is not None:
        text = template_from_image(read_dockerfile(from_dir, image), env_tags=env.tags, env_resources=env.resources)
    elif image_tar == "-":
        config = read_docker_save(sys.stdin.buffer, image)
        text = template_from_image(config, env_tags=env.tags, env_resources=env.resources)
    else:
        with open(image_tar, "rb") as stream:
            config = read_docker_save(stream, image)
        text = template_from_image(config, env_tags=env.tags, env_resources=env.resources)
    click.echo(text, nl=False)
    click.echo("# Plan file is generated. modify it as you like.", err=True)
