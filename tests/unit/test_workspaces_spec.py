"""Workspace input checks, JupyterLab settings and the launcher's mount links."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlfabric.errors import InvalidInput
from mlfabric.workspaces import jupyter_config, spec
from mlfabric.workspaces.launch import MountError, link_mounts, unlink_mounts


@pytest.mark.parametrize(("name", "message"), [
    ("Bad_Name", "invalid workspace name 'Bad_Name'"),
    ("", "must not be empty"),
    ("-x", "starting and ending with a letter or digit"),
    ("a" * 61, "longer than 60 characters"),
])
def test_bad_workspace_names(name: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        spec.check_name(name)


def test_longest_name_leaves_room_for_the_job_prefix() -> None:
    name = "a" * 60
    assert spec.check_name(name) == name
    assert len(spec.job_name(name)) == 63


@pytest.mark.parametrize(("given", "expected"), [
    (None, spec.DEFAULT_GPUS), ("0.5", 0.5), (" 2 ", 2.0), (1, 1.0), (0.25, 0.25),
])
def test_gpu_shares(given: object, expected: float) -> None:
    assert spec.check_gpus(given) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("given", "message"), [
    ("0", "no zero-GPU jobs"), (0, "no zero-GPU jobs"), ("-1", "no zero-GPU jobs"),
    ("nan", "no zero-GPU jobs"), ("1.5", "neither a whole number nor a fraction"),
    ("lots", "expected a whole number or a fraction"), (True, "no zero-GPU jobs"),
])
def test_bad_gpu_shares(given: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        spec.check_gpus(given)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::1", "localhost", "node-1.lan"])
def test_good_hosts(host: str) -> None:
    assert spec.check_host(host) == host


@pytest.mark.parametrize("host", ["", "  ", "not a host", "http://x", "a/b", "-x"])
def test_bad_hosts(host: str) -> None:
    with pytest.raises(InvalidInput, match="host"):
        spec.check_host(host)


@pytest.mark.parametrize("port", [0, 65536, -1, True, "80"])
def test_bad_ports(port: object) -> None:
    with pytest.raises(InvalidInput, match="invalid port"):
        spec.check_port(port)  # type: ignore[arg-type]


def test_mount_paths_default_to_the_volume_name_and_are_normalised() -> None:
    got = spec.check_volumes(["refdata", "raw:/data/", "models:inputs/models"], own_volume="ws")
    assert got == ["refdata:refdata", "raw:data", "models:inputs/models"]


@pytest.mark.parametrize(("items", "message"), [
    (["ws:/x"], "the workspace's own volume"),
    (["a:/x", "a:/y"], "given twice"),
    (["a:/x", "b:/x"], "overlaps"),
    (["a:/x", "b:/x/y"], "overlaps"),
    (["a:../up"], "relative path inside the workspace"),
    (["a:x/./y"], "relative path inside the workspace"),
    (["a:.hidden"], "hides names starting with '.'"),
    (["a:datasets/x"], "where cached datasets appear"),
    (["Bad:/x"], "invalid volume name"),
])
def test_bad_mounts(items: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        spec.check_volumes(items, own_volume="ws")


@pytest.mark.parametrize(("items", "message"), [
    (["pets"], "expected DATASET:VERSION"),
    (["pets:"], "expected DATASET:VERSION"),
    (["pets:v1", "pets:v2"], "given twice"),
    (["Pets:v1"], "invalid dataset name"),
])
def test_bad_datasets(items: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        spec.check_datasets(items)


def test_passwords() -> None:
    given, generated = spec.check_password("correct horse")
    assert (given, generated) == ("correct horse", False)
    made, generated = spec.check_password(None)
    assert generated and len(made) >= spec.MIN_PASSWORD
    assert made != spec.check_password(None)[0]
    with pytest.raises(InvalidInput, match="at least 8 characters"):
        spec.check_password("short")
    with pytest.raises(InvalidInput, match="one line"):
        spec.check_password("two\nlines here")


@pytest.mark.parametrize(("ref", "expected"), [
    ("ws", ("ws", None)), ("ws@s1", ("ws", "s1")),
])
def test_refs(ref: str, expected: tuple[str, str | None]) -> None:
    assert spec.parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["ws@", "ws@a@b", "@s1", "WS@s1", "ws@S1"])
def test_bad_refs(ref: str) -> None:
    with pytest.raises(InvalidInput):
        spec.parse_ref(ref)


def test_settings_keep_jupyterlab_password_only_and_off_the_network() -> None:
    cfg = jupyter_config.settings("127.0.0.1", 9999, "argon2:$hash")
    assert cfg["ServerApp"] == {"ip": "127.0.0.1", "port": 9999, "port_retries": 0,
                                "open_browser": False}
    assert cfg["IdentityProvider"]["token"] == ""
    assert cfg["PasswordIdentityProvider"]["hashed_password"] == "argon2:$hash"
    assert cfg["PasswordIdentityProvider"]["password_required"] is True
    lab = cfg["LabApp"]
    assert lab["news_url"] is None and lab["extension_manager"] == "readonly"
    assert lab["check_for_updates_class"].endswith("NeverCheckForUpdate")
    json.dumps(cfg)  # written as JSON


def test_launch_command_names_variables_never_secrets(tmp_path: Path) -> None:
    cmd = jupyter_config.launch_command("nb", volume="nb", volumes=["ref-data:data"],
                                        datasets=["pets:v1"], home=str(tmp_path))
    assert cmd[1:3] == ["-m", "mlfabric.workspaces.launch"]
    assert cmd[cmd.index("--dir") + 1] == str(tmp_path / "workspaces" / "nb")
    assert cmd[cmd.index("--root-var") + 1] == "MLFABRIC_VOLUME_NB"
    links = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--link"]
    assert links == ["data=MLFABRIC_VOLUME_REF_DATA", "datasets/pets=MLFABRIC_DATASET_PETS"]


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:8888/lab"), ("::1", "http://[::1]:8888/lab"),
])
def test_urls(host: str, url: str) -> None:
    assert jupyter_config.url(host, 8888) == url


def test_mount_links_are_made_replaced_and_removed(tmp_path: Path) -> None:
    root, a, b = tmp_path / "root", tmp_path / "a", tmp_path / "b"
    for d in (root, a, b):
        d.mkdir()
    links = [("data", str(a)), ("datasets/pets", str(b))]
    (root / "data").symlink_to(tmp_path)  # a stale link from an earlier run
    link_mounts(root, links)
    assert (root / "data").readlink() == a and (root / "datasets" / "pets").readlink() == b
    unlink_mounts(root, links)
    assert sorted(p.name for p in root.iterdir()) == []  # datasets/ made for it went too


def test_mount_never_replaces_a_users_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "data").write_text("mine")
    with pytest.raises(MountError, match="'data' exists in the workspace volume"):
        link_mounts(root, [("data", str(tmp_path))])
    assert (root / "data").read_text() == "mine"


def test_unlink_keeps_folders_that_hold_user_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "datasets").mkdir(parents=True)
    (root / "datasets" / "notes.txt").write_text("mine")
    link_mounts(root, [("datasets/pets", str(tmp_path))])
    unlink_mounts(root, [("datasets/pets", str(tmp_path))])
    assert (root / "datasets" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(("host", "node_address", "shown"), [
    ("127.0.0.1", "10.0.0.7", "127.0.0.1"),  # bound to one address: that one
    ("0.0.0.0", "10.0.0.7", "10.0.0.7"),  # a wildcard: the node it runs on
    ("::", "fd00::7", "[fd00::7]"),
])
def test_service_urls_on_a_wildcard_address_name_the_node_they_run_on(
        host: str, node_address: str, shown: str) -> None:
    from mlfabric.serving import InferenceServer

    assert jupyter_config.url(host, 8888, node_address) == f"http://{shown}:8888/lab"
    srv = InferenceServer(name="s", project="p", model_repo="m", job="inference-s",
                          state="ready", host=host, http_port=1, grpc_port=2, metrics_port=3,
                          gpus=None, created_at=0.0, node="n1", node_address=node_address)
    assert (srv.http_url, srv.grpc_url) == (f"http://{shown}:1", f"{shown}:2")
