"""``[knit] docker_user``: who the docker runner's containers run as, so the Data they write belong to someone who
can delete and purge them."""

from __future__ import annotations

import os

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.service.settings import KnitSettings


def settings(**options: str) -> KnitSettings:
    return KnitSettings.resolve(lambda key: options.get(key))


def test_unset_keeps_the_images_user_and_gives_the_runner_no_option() -> None:
    resolved = settings(runner="docker")
    assert resolved.docker_user is None
    assert resolved.runner_options("docker") == {}


def test_worker_is_this_process_uid_and_gid() -> None:
    resolved = settings(runner="docker", docker_user="worker")
    assert resolved.docker_user == f"{os.getuid()}:{os.getgid()}"
    assert resolved.runner_options("docker") == {"user": f"{os.getuid()}:{os.getgid()}"}
    assert resolved.runner_options("process") == {}, "only the docker runner takes a user"


@pytest.mark.parametrize("user", ["1000", "1000:1000", "knit", "knit:staff", "svc.account-1:grp_2"])
def test_a_user_and_group_go_through_as_written(user: str) -> None:
    assert settings(docker_user=user).runner_options(" Docker ") == {"user": user}


@pytest.mark.parametrize("user", ["--privileged", "a b", "1000:", ":1000", "root;rm", "x:y:z"])
def test_anything_else_is_refused_naming_the_option(user: str) -> None:
    with pytest.raises(InvalidInput, match=r"\[knit\] docker_user") as caught:
        settings(docker_user=user)
    assert repr(user) in str(caught.value)
