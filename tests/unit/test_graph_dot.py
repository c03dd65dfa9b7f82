# ruff: noqa: E501
"""DOT writers on hand-built graphs: Knitfab's exact layout (its own knitgraph test cases), colours, emphasis,
roots, edge order, and escaping of user text, checked against the real ``dot`` program."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

from knit_provider.core.graphs import DataNode, Edge, Graph, PlanNode, RunNode, dot_escape, html_escape

T1 = "2024-04-01T12:34:55+00:00"
T2 = "2024-04-01T12:34:56+00:00"
TRAINER = {"planId": "plan-3", "image": "knit.image.repo.invalid/trainer:v1"}
UPLOAD = {"planId": "upload", "name": "knit#uploaded"}

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def tabs(text: str) -> str:
    """Expected DOT written with 4 spaces per tab (no tabs in this file); no trailing newline, like Knitfab."""
    lines = text.strip("\n").split("\n")
    return "\n".join(re.sub(r"^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), line) for line in lines)


def run_summary(run_id: str, status: str = "done", plan: dict = TRAINER) -> dict:
    return {"runId": run_id, "status": status, "updatedAt": T2, "plan": plan}


def data(knit_id: str, *, tags=("foo:bar", "fizz:bazz"), ts: str | None = T2, up=None, down=(), extra=()) -> dict:
    """Knitfab's Data JSON; ``up`` = (run summary, path or None for a log), ``down`` = [(run summary, path)]."""
    all_tags = [*tags, f"knit#id:{knit_id}", *([f"knit#timestamp:{ts}"] if ts else []), *extra]
    upstream: dict = {}
    if up is not None:
        run, path = up
        upstream = {"log": {"tags": []}} if path is None else {"mountpoint": {"path": path, "tags": []}}
        upstream["run"] = run
    return {
        "knitId": knit_id,
        "tags": all_tags,
        "upstream": upstream,
        "downstreams": [{"mountpoint": {"path": p, "tags": []}, "run": r} for r, p in down],
        "nomination": [],
    }


def run(run_id: str, *, status="done", plan=TRAINER, inputs=(), outputs=(), log=None, updated=T2) -> dict:
    return {
        "runId": run_id,
        "status": status,
        "updatedAt": updated,
        "plan": plan,
        "inputs": [{"path": p, "tags": [], "knitId": k} for k, p in inputs],
        "outputs": [{"path": p, "tags": [], "knitId": k} for k, p in outputs],
        "log": {"tags": [], "knitId": log} if log else None,
    }


def plan(plan_id: str, *, image=None, name=None, annotations=(), inputs=(), outputs=(), log=None) -> dict:
    """``inputs`` = [(path, [(plan id, port)])], ``outputs`` = [(path, [(plan id, path)])], ``log`` = [...] or None."""
    detail: dict = {"planId": plan_id}
    if image:
        detail["image"] = image
    if name:
        detail["name"] = name
    if annotations:
        detail["annotations"] = list(annotations)

    def upstream(plan_id: str, port: str) -> dict:
        point = {"log": {"tags": []}} if port == "log" else {"mountpoint": {"path": port, "tags": []}}
        return {"plan": {"planId": plan_id}, **point}

    detail["inputs"] = [{"path": p, "tags": [], "upstreams": [upstream(*u) for u in ups]} for p, ups in inputs]
    downstream = [
        {"path": p, "tags": [], "downstreams": [{"plan": {"planId": d}, "mountpoint": {"path": dp, "tags": []}}]}
        for p, downs in outputs
        for d, dp in downs
    ]
    detail["outputs"] = [
        {"path": p, "tags": [], "downstreams": [d for o in downstream if o["path"] == p for d in o["downstreams"]]}
        for p, _ in outputs
    ]
    if log is not None:
        detail["log"] = {
            "tags": [],
            "downstreams": [{"plan": {"planId": d}, "mountpoint": {"path": dp, "tags": []}} for d, dp in log],
        }
    detail["active"] = True
    return detail


DONE = '<FONT COLOR="#007700"><B>done</B></FONT>'


# ---- Knitfab's own cases (cmd/knit/knitgraph/graph_test.go), timestamps kept in UTC --------------------------------


EXPECTED_DATA_RUN_DATA = """
digraph G {
    node [shape=record fontsize=10]
    edge [fontsize=10]

    "ddata1"[
        shape=none
        color="#1c9930"
        label=<
            <TABLE CELLSPACING="0">
                <TR><TD BGCOLOR="#1c9930"><FONT COLOR="#FFFFFF"><B>Data</B></FONT></TD><TD BGCOLOR="#d4ecc6">knit#id: data1</TD></TR>
                <TR><TD COLSPAN="2"><FONT POINT-SIZE="8">2024-04-01T12:34:55+00:00</FONT></TD></TR>
                <TR><TD COLSPAN="2"><B>foo</B>:bar<BR/><B>fizz</B>:bazz</TD></TR>
            </TABLE>
        >
    ];
    "ddata2"[
        shape=none
        color="#1c9930"
        label=<
            <TABLE CELLSPACING="0">
                <TR><TD BGCOLOR="#1c9930"><FONT COLOR="#FFFFFF"><B>Data</B></FONT></TD><TD BGCOLOR="#FFFFFF">knit#id: data2</TD></TR>
                <TR><TD COLSPAN="2"><FONT POINT-SIZE="8">2024-04-01T12:34:56+00:00</FONT></TD></TR>
                <TR><TD COLSPAN="2"><B>foo</B>:bar<BR/><B>fizz</B>:bazz</TD></TR>
            </TABLE>
        >
    ];
    "rrun1"[
        shape=none
        color="#FFA500"
        label=<
            <TABLE CELLSPACING="0">
                <TR><TD BGCOLOR="#FFA500"><FONT COLOR="#FFFFFF"><B>Run</B></FONT></TD><TD><FONT COLOR="#007700"><B>done</B></FONT></TD><TD BGCOLOR="#FFFFFF">id: run1</TD></TR>
                <TR><TD COLSPAN="3"><FONT POINT-SIZE="8">last updated: 2024-04-01T12:34:56+00:00</FONT></TD></TR>
                <TR><TD COLSPAN="3">image = knit.image.repo.invalid/trainer:v1</TD></TR>
            </TABLE>
        >
    ];

    "ddata1" -> "rrun1" [label="/in/1"];
    "rrun1" -> "ddata2" [label="/out/1"];

}
"""

EXPECTED_ROOT = """
digraph G {
    node [shape=record fontsize=10]
    edge [fontsize=10]

    "ddata2"[
        shape=none
        color="#1c9930"
        label=<
            <TABLE CELLSPACING="0">
                <TR><TD BGCOLOR="#1c9930"><FONT COLOR="#FFFFFF"><B>Data</B></FONT></TD><TD BGCOLOR="#d4ecc6">knit#id: data2</TD></TR>
                <TR><TD COLSPAN="2"><FONT POINT-SIZE="8">2024-04-01T12:34:56+00:00</FONT></TD></TR>
                <TR><TD COLSPAN="2"><B>foo</B>:bar<BR/><B>fizz</B>:bazz</TD></TR>
            </TABLE>
        >
    ];
    "ddata1"[
        shape=none
        color="#1c9930"
        label=<
            <TABLE CELLSPACING="0">
                <TR><TD BGCOLOR="#1c9930"><FONT COLOR="#FFFFFF"><B>Data</B></FONT></TD><TD BGCOLOR="#FFFFFF">knit#id: data1</TD></TR>
                <TR><TD COLSPAN="2"><FONT POINT-SIZE="8">2024-04-01T12:34:56+00:00</FONT></TD></TR>
                <TR><TD COLSPAN="2"><B>foo</B>:bar<BR/><B>fizz</B>:bazz</TD></TR>
            </TABLE>
        >
    ];
    "rrun2"[
        shape=none
        color="#FFA500"
        label=<
            <TABLE CELLSPACING="0">
                <TR><TD BGCOLOR="#FFA500"><FONT COLOR="#FFFFFF"><B>Run</B></FONT></TD><TD><FONT COLOR="#007700"><B>done</B></FONT></TD><TD BGCOLOR="#FFFFFF">id: run2</TD></TR>
                <TR><TD COLSPAN="3"><FONT POINT-SIZE="8">last updated: 2024-04-01T12:34:56+00:00</FONT></TD></TR>
                <TR><TD COLSPAN="3">image = knit.image.repo.invalid/trainer:v2</TD></TR>
            </TABLE>
        >
    ];
    "rrun1"[
        shape=none
        color="#FFA500"
        label=<
            <TABLE CELLSPACING="0">
                <TR><TD BGCOLOR="#FFA500"><FONT COLOR="#FFFFFF"><B>Run</B></FONT></TD><TD><FONT COLOR="#007700"><B>done</B></FONT></TD><TD BGCOLOR="#FFD580">id: run1</TD></TR>
                <TR><TD COLSPAN="3"><FONT POINT-SIZE="8">last updated: 2024-04-01T12:34:56+00:00</FONT></TD></TR>
                <TR><TD COLSPAN="3">knit#uploaded</TD></TR>
            </TABLE>
        >
    ];
    "root#0"[shape=Mdiamond];

    "rrun2" -> "ddata2" [label="/out/1"];
    "ddata1" -> "rrun2" [label="/in/1"];
    "rrun1" -> "ddata1" [label="/upload"];
    "root#0" -> "rrun1";

}
"""


def test_data_run_data_is_knitfabs_exact_text() -> None:
    run1 = run("run1", inputs=[("data1", "/in/1")], outputs=[("data2", "/out/1")])
    g = Graph()
    g.add_data(
        DataNode.from_detail(
            data(
                "data1", ts=T1, up=(run_summary("run0", plan=UPLOAD), "/out/1"), down=[(run_summary("run1"), "/in/1")]
            ),
            emphasize=True,
        )
    )
    g.add_data(DataNode.from_detail(data("data2", up=(run_summary("run1"), "/out/1"))))
    g.add_run(RunNode.from_detail(run1))
    assert g.to_dot() == tabs(EXPECTED_DATA_RUN_DATA)
    assert g.to_dot().endswith(";\n\n}")


def test_root_node_and_insertion_order_of_edges() -> None:
    v2 = {"planId": "plan-3", "image": "knit.image.repo.invalid/trainer:v2"}
    g = Graph()
    g.add_data(DataNode.from_detail(data("data2", up=(run_summary("run2", plan=v2), "/out/1")), emphasize=True))
    g.add_run(RunNode.from_detail(run("run2", plan=v2, inputs=[("data1", "/in/1")], outputs=[("data2", "/out/1")])))
    g.add_data(
        DataNode.from_detail(
            data(
                "data1",
                up=(run_summary("run1", plan=UPLOAD), "/upload"),
                down=[(run_summary("run2", plan=v2), "/in/1")],
            )
        )
    )
    g.add_run(RunNode.from_detail(run("run1", plan=UPLOAD, outputs=[("data1", "/upload")]), emphasize=True))
    assert g.to_dot() == tabs(EXPECTED_ROOT)
    assert g.roots == ["run1"]


def test_failed_run_with_log() -> None:
    failed = run_summary("run2", status="failed")
    g = Graph()
    g.add_data(
        DataNode.from_detail(
            data("data1", up=(run_summary("run1", plan=UPLOAD), "/upload"), down=[(failed, "/in/1")]), emphasize=True
        )
    )
    g.add_data(DataNode.from_detail(data("data2", up=(failed, "/out/1"), extra=["knit#transient:failed"])))
    g.add_data(DataNode.from_detail(data("log", up=(failed, None), extra=["knit#transient:failed"])))
    g.add_run(RunNode.from_detail(run("run1", plan=UPLOAD, outputs=[("data1", "/upload")])))
    g.add_run(
        RunNode.from_detail(
            run("run2", status="failed", inputs=[("data1", "/in/1")], outputs=[("data2", "/out/1")], log="log")
        )
    )
    dot = g.to_dot()
    assert f'<FONT POINT-SIZE="8">{T2} | knit#transient:failed</FONT>' in dot
    assert '<TD><FONT COLOR="red"><B>failed</B></FONT></TD>' in dot
    assert dot.endswith(
        "\n\n"
        '\t"rrun1" -> "ddata1" [label="/upload"];\n'
        '\t"root#0" -> "rrun1";\n'
        '\t"ddata1" -> "rrun2" [label="/in/1"];\n'
        '\t"rrun2" -> "ddata2" [label="/out/1"];\n'
        '\t"rrun2" -> "dlog" [label="(log)"];\n'
        "\n}"
    )


def test_complex_lineage_edges_follow_insertion_order() -> None:
    r1 = run("run1", inputs=[("data1", "/in/1")], outputs=[("data2", "/out/1"), ("data3", "/out/2")])
    r2 = run("run2", inputs=[("data2", "/in/2"), ("data4", "/in/3")], outputs=[("data5", "/out/3")])
    r3 = run("run3", inputs=[("data3", "/in/4")], outputs=[("data6", "/out/4")])
    s1, s2, s3 = (run_summary(r["runId"]) for r in (r1, r2, r3))
    g = Graph()
    g.add_data(
        DataNode.from_detail(data("data1", up=(run_summary("run0"), "/out/1"), down=[(s1, "/in/1")]), emphasize=True)
    )
    g.add_run(RunNode.from_detail(r1))
    g.add_data(DataNode.from_detail(data("data2", up=(s1, "/out/1"), down=[(s2, "/in/2")])))
    g.add_data(DataNode.from_detail(data("data3", up=(s1, "/out/2"), down=[(s3, "/in/4")])))
    g.add_run(RunNode.from_detail(r2))
    g.add_run(RunNode.from_detail(r3))
    g.add_data(DataNode.from_detail(data("data4", up=(run_summary("runxx"), "/out/xx"), down=[(s2, "/in/3")])))
    g.add_data(DataNode.from_detail(data("data5", up=(s2, "/out/3"))))
    g.add_data(DataNode.from_detail(data("data6", up=(s3, "/out/4"))))
    assert [(e.source, e.target, e.label) for e in g.edges] == [
        ("ddata1", "rrun1", "/in/1"),
        ("rrun1", "ddata2", "/out/1"),
        ("rrun1", "ddata3", "/out/2"),
        ("ddata2", "rrun2", "/in/2"),
        ("ddata3", "rrun3", "/in/4"),
        ("ddata4", "rrun2", "/in/3"),
        ("rrun2", "ddata5", "/out/3"),
        ("rrun3", "ddata6", "/out/4"),
    ]
    assert g.roots == []  # every run here has inputs
    dot = g.to_dot()
    assert [m for m in re.findall(r'^\t"([dr]\w+)"\[$', dot, re.M)] == [
        "ddata1", "ddata2", "ddata3", "ddata4", "ddata5", "ddata6", "rrun1", "rrun2", "rrun3",
    ]  # fmt: skip
    assert dot.count('BGCOLOR="#d4ecc6"') == 1


PLANS = [
    plan("plan0", name="knit#uploaded", outputs=[("/out/1", [])]),
    plan(
        "plan1",
        image="knit.image.repo.invalid/trainer:v1",
        inputs=[("/in/1", [])],
        outputs=[("/out/1", [("plan2", "/in/1")])],
    ),
    plan(
        "plan2",
        image="knit.image.repo.invalid/trainer:v1",
        annotations=["foo=bar"],
        inputs=[("/in/1", [("plan1", "/out/1")])],
        log=[("plan3", "/in/1")],
    ),
    plan(
        "plan3",
        image="knit.image.repo.invalid/trainer:v1",
        annotations=["foo=bar", "fizz=bazz"],
        inputs=[("/in/1", [("plan2", "log")])],
    ),
]


EXPECTED_PLANS = """
digraph G {
    node [shape=record fontsize=10]
    edge [fontsize=10]

    subgraph {
        "pplan0"[
            shape=none
            color="#DAA520"
            label=<
                <TABLE CELLSPACING="0">
                    <TR><TD BGCOLOR="#DAA520"><FONT COLOR="#FFFFFF"><B>Plan</B></FONT></TD><TD BGCOLOR="#FFFFFF">id: plan0</TD></TR>
                    <TR><TD COLSPAN="2">knit#uploaded</TD></TR>
                    <TR><TD COLSPAN="2"></TD></TR>
                </TABLE>
            >
        ];
        "pplan0@/out/1"[shape=point, color="#1c9930"];
        "pplan0" -> "pplan0@/out/1" [label="/out/1"];
    }
    subgraph {
        "pplan1@/in/1"[shape=point, color="#1c9930"];
        "pplan1@/in/1" -> "pplan1" [label="/in/1"];
        "pplan1"[
            shape=none
            color="#DAA520"
            label=<
                <TABLE CELLSPACING="0">
                    <TR><TD BGCOLOR="#DAA520"><FONT COLOR="#FFFFFF"><B>Plan</B></FONT></TD><TD BGCOLOR="#EDD9B4">id: plan1</TD></TR>
                    <TR><TD COLSPAN="2">image = knit.image.repo.invalid/trainer:v1</TD></TR>
                    <TR><TD COLSPAN="2"></TD></TR>
                </TABLE>
            >
        ];
        "pplan1@/out/1"[shape=point, color="#1c9930"];
        "pplan1" -> "pplan1@/out/1" [label="/out/1"];
    }
    subgraph {
        "pplan2@/in/1"[shape=point, color="#1c9930"];
        "pplan2@/in/1" -> "pplan2" [label="/in/1"];
        "pplan2"[
            shape=none
            color="#DAA520"
            label=<
                <TABLE CELLSPACING="0">
                    <TR><TD BGCOLOR="#DAA520"><FONT COLOR="#FFFFFF"><B>Plan</B></FONT></TD><TD BGCOLOR="#FFFFFF">id: plan2</TD></TR>
                    <TR><TD COLSPAN="2">image = knit.image.repo.invalid/trainer:v1</TD></TR>
                    <TR><TD COLSPAN="2"><B>foo</B>=bar</TD></TR>
                </TABLE>
            >
        ];
        "pplan2@log"[shape=point, color="#1c9930"];
        "pplan2" -> "pplan2@log" [label="(log)"];
    }
    subgraph {
        "pplan3@/in/1"[shape=point, color="#1c9930"];
        "pplan3@/in/1" -> "pplan3" [label="/in/1"];
        "pplan3"[
            shape=none
            color="#DAA520"
            label=<
                <TABLE CELLSPACING="0">
                    <TR><TD BGCOLOR="#DAA520"><FONT COLOR="#FFFFFF"><B>Plan</B></FONT></TD><TD BGCOLOR="#FFFFFF">id: plan3</TD></TR>
                    <TR><TD COLSPAN="2">image = knit.image.repo.invalid/trainer:v1</TD></TR>
                    <TR><TD COLSPAN="2"><B>foo</B>=bar<BR/><B>fizz</B>=bazz</TD></TR>
                </TABLE>
            >
        ];
    }

    "pplan1@/out/1" -> "pplan2@/in/1";
    "pplan2@log" -> "pplan3@/in/1";

}
"""


def test_plan_graph_upstream_to_downstream_is_knitfabs_exact_text() -> None:
    g = Graph()
    for detail in PLANS:
        g.add_plan(PlanNode.from_detail(detail, emphasize=detail["planId"] == "plan1"))
    assert g.to_dot() == tabs(EXPECTED_PLANS)
    assert g.roots == []  # no root nodes in a plan graph


def test_plan_graph_downstream_to_upstream_orders_edges_by_arrival() -> None:
    g = Graph()
    for detail in reversed(PLANS):
        g.add_plan(PlanNode.from_detail(detail, emphasize=detail["planId"] == "plan3"))
    assert [(e.source, e.target, e.label) for e in g.edges] == [
        ("pplan2@log", "pplan3@/in/1", ""),
        ("pplan1@/out/1", "pplan2@/in/1", ""),
    ]
    dot = g.to_dot()
    assert dot.index('"pplan3"[') < dot.index('"pplan2"[') < dot.index('"pplan1"[') < dot.index('"pplan0"[')
    assert dot.count('BGCOLOR="#EDD9B4"') == 1 and 'BGCOLOR="#EDD9B4">id: plan3<' in dot


# ---- details ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cell"),
    [
        ("deactivated", '<FONT COLOR="gray"><B>deactivated</B></FONT>'),
        ("completing", '<FONT COLOR="#007700"><B>completing</B></FONT>'),
        ("done", '<FONT COLOR="#007700"><B>done</B></FONT>'),
        ("aborting", '<FONT COLOR="red"><B>aborting</B></FONT>'),
        ("failed", '<FONT COLOR="red"><B>failed</B></FONT>'),
        ("waiting", "waiting"),
        ("ready", "ready"),
        ("starting", "starting"),
        ("running", "running"),
    ],
)
def test_run_status_colours(status: str, cell: str) -> None:
    g = Graph()
    g.add_run(RunNode.from_detail(run("r", status=status, inputs=[("x", "/in")])))
    assert f'<TD BGCOLOR="#FFA500"><FONT COLOR="#FFFFFF"><B>Run</B></FONT></TD><TD>{cell}</TD>' in g.to_dot()


def test_data_without_system_tags_keeps_an_empty_line_and_timestamps_stay_utc() -> None:
    g = Graph()
    g.add_data(DataNode.from_detail(data("d1", ts=None, tags=["a:b"])))
    assert '\t\t\t\t<TR><TD BGCOLOR="#1c9930">' in g.to_dot()
    assert "\n\t\t\t\t\n" in g.to_dot()  # the subheader line is empty, its indentation stays
    g.add_data(DataNode.from_detail(data("d2", ts="2024-04-01T12:34:56.5+00:00", extra=["knit#transient:processing"])))
    assert '<FONT POINT-SIZE="8">2024-04-01T12:34:56.5+00:00 | knit#transient:processing</FONT>' in g.to_dot()
    assert "knit#id: d2</TD>" in g.to_dot() and "knit#id:d2" not in g.to_dot()


def test_upload_run_title_and_root_per_inputless_run() -> None:
    g = Graph()
    g.add_run(RunNode.from_detail(run("u1", plan=UPLOAD, outputs=[("a", "/upload")])))
    g.add_run(RunNode.from_detail(run("u2", plan=UPLOAD, outputs=[("b", "/upload")])))
    dot = g.to_dot()
    assert '<TR><TD COLSPAN="3">knit#uploaded</TD></TR>' in dot
    assert '\t"root#0"[shape=Mdiamond];\n\t"root#1"[shape=Mdiamond];\n' in dot
    assert '\t"root#0" -> "ru1";\n\t"root#1" -> "ru2";\n' in dot
    assert g.node_count == 4


def test_adding_a_node_twice_changes_nothing() -> None:
    g = Graph()
    detail = run("u1", plan=UPLOAD, outputs=[("a", "/upload")])
    g.add_run(RunNode.from_detail(detail))
    g.add_data(DataNode.from_detail(data("a", up=(run_summary("u1", plan=UPLOAD), "/upload"))))
    before = g.to_dot()
    g.add_run(RunNode.from_detail(detail))
    g.add_data(DataNode.from_detail(data("a", up=(run_summary("u1", plan=UPLOAD), "/upload"))))
    assert g.to_dot() == before and len(g.edges) == 2


def test_same_data_on_two_inputs_of_one_run_gives_two_edges() -> None:
    s = run_summary("r")
    g = Graph()
    g.add_data(DataNode.from_detail(data("x", down=[(s, "/in/a"), (s, "/in/b")])))
    g.add_run(RunNode.from_detail(run("r", inputs=[("x", "/in/a"), ("x", "/in/b")])))
    assert [(e.source, e.target, e.label) for e in g.edges] == [("dx", "rr", "/in/a"), ("dx", "rr", "/in/b")]


def test_edge_without_label_has_no_label_attribute() -> None:
    g = Graph()
    g.edges.append(Edge("a", "b"))
    assert '\t"a" -> "b";\n' in g.to_dot()


# ---- escaping -------------------------------------------------------------------------------------------------

NASTY_TAGS = ['q:"quoted"', "lt:<b>bold</b>", "br:{x}|y", "amp:a&b", "日本語:データ", "back:\\n\\"]


def test_html_and_dot_escape() -> None:
    assert html_escape('<a href="x">&{}|\'</a>') == (
        "&lt;a href=&quot;x&quot;&gt;&amp;&#123;&#125;&#124;&#39;&lt;/a&gt;"
    )
    assert html_escape("日本語:データ") == "日本語:データ"
    assert html_escape("a\nb\x01") == "a&#10;b\ufffd"
    assert dot_escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert dot_escape("日本語") == "日本語"


def nasty_graph() -> Graph:
    g = Graph()
    path = '/in/"odd" \\dir'
    g.add_data(
        DataNode.from_detail(
            data("k1", tags=NASTY_TAGS, up=(run_summary("u", plan=UPLOAD), "/upload"), down=[(run_summary("r"), path)]),
            emphasize=True,
        )
    )
    g.add_run(RunNode.from_detail(run("u", plan=UPLOAD, outputs=[("k1", "/upload")])))
    g.add_run(RunNode.from_detail(run("r", plan={"planId": "p", "image": "repo/<img>:v&1"}, inputs=[("k1", path)])))
    return g


def test_user_text_is_escaped_in_dot() -> None:
    dot = nasty_graph().to_dot()
    assert "<B>q</B>:&quot;quoted&quot;" in dot
    assert "<B>lt</B>:&lt;b&gt;bold&lt;/b&gt;" in dot
    assert "<B>br</B>:&#123;x&#125;&#124;y" in dot
    assert "<B>amp</B>:a&amp;b" in dot
    assert "<B>日本語</B>:データ" in dot
    assert "image = repo/&lt;img&gt;:v&amp;1" in dot
    assert '"dk1" -> "rr" [label="/in/\\"odd\\" \\\\dir"];' in dot
    label_text = re.findall(r"label=<(.*?)\n\t\t>", dot, re.S)
    assert label_text and all("{" not in t and "}" not in t and "|" not in t for t in label_text)
    assert "\n" not in dot.split("<B>q</B>")[1].split("</TD>")[0]
    dot.encode("utf-8")


def svg_of(dot: str) -> str:
    done = subprocess.run(["dot", "-Tsvg"], input=dot.encode("utf-8"), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert not done.stderr.strip(), done.stderr.decode()  # no warnings either
    return done.stdout.decode("utf-8")


@needs_dot
def test_dot_accepts_escaped_text_and_shows_it_verbatim() -> None:
    svg = svg_of(nasty_graph().to_dot())
    texts = " ".join(re.findall(r"<text[^>]*>(.*?)</text>", svg))
    assert ":&quot;quoted&quot;" in texts
    assert ":&lt;b&gt;bold&lt;/b&gt;" in texts
    assert ":{x}|y" in texts
    assert ":a&amp;b" in texts
    assert "日本語" in texts and ":データ" in texts
    assert ":\\n\\" in texts
    assert "image = repo/&lt;img&gt;:v&amp;1" in texts
    assert "/in/&quot;odd&quot; \\dir" in texts


@needs_dot
def test_dot_accepts_every_kind_of_graph() -> None:
    g = Graph()
    for detail in PLANS:
        g.add_plan(PlanNode.from_detail(detail, emphasize=detail["planId"] == "plan1"))
    weird = plan(
        "pw",
        image='r/"x":{1}',
        annotations=['k|{}="<v>"&日本'],
        inputs=[('/in/"a"|{b}', [("plan1", "/out/1")])],
        outputs=[("/out/<c>", [])],
        log=[],
    )
    g.add_plan(PlanNode.from_detail(weird))
    svg = svg_of(g.to_dot())
    assert "<B>" not in svg and "&lt;v&gt;" in svg and "日本" in svg
    for status in ("deactivated", "waiting", "running", "done", "failed"):
        svg_of(_status_graph(status).to_dot())


def _status_graph(status: str) -> Graph:
    g = Graph()
    g.add_run(RunNode.from_detail(run("r", status=status, plan=UPLOAD, outputs=[("d", "/upload")])))
    g.add_data(DataNode.from_detail(data("d", up=(run_summary("r", status=status, plan=UPLOAD), "/upload"))))
    return g


def test_ten_thousand_nodes_write_quickly() -> None:
    """Not a timing assertion (see bench/lineage.py): a smoke check that the writer is linear."""
    g = Graph()
    previous = None
    for i in range(5000):
        ins = [(previous, "/in")] if previous else []
        g.add_run(RunNode.from_detail(run(f"r{i}", inputs=ins, outputs=[(f"d{i}", "/out")])))
        g.add_data(DataNode.from_detail(data(f"d{i}", up=(run_summary(f"r{i}"), "/out"))))
        previous = f"d{i}"
    started = time.perf_counter()
    dot = g.to_dot()
    elapsed = time.perf_counter() - started
    assert g.node_count == 10001 and dot.count(" -> ") == 10000
    assert elapsed < 30  # generous: only catches accidental quadratic behaviour
