"""The template sandbox: whatever a template does, its render ends quickly, small, and as a problem at its key."""

from __future__ import annotations

from pathlib import Path
import resource
import sys
import time

import jinja2
from jinja2.sandbox import SandboxedEnvironment
import pytest

from programmatic_iam.errors import ConfigError
from programmatic_iam.templating import (
    MAX_BUILT,
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_STEPS,
    MAX_TEXT,
    MEMORY_HEADROOM,
    TIME_LIMIT,
    _address_space_cap,
    other_work_running,
    render,
)
from tests.support.helpers import REPO, blueprint_of

VARIABLES = {
    "namespace": "",
    "name": "streammanager",
    "environment": "production",
    "region": "us-east-1",
    "account_id": "111122223333",
}
# Each must end within a few seconds (the render's own limit is 1 s) and raise the peak memory by little.
SECONDS = 5.0
MEBIBYTES = 128

# (template, what the problem says): every way found to build gigabytes or to run forever.
HOSTILE = [
    pytest.param("{{ name|center(1000000000) }}", "a text of 1,000,000,000 characters", id="center"),
    pytest.param("{{ name|center(10**9) }}", "a text of 1,000,000,000 characters", id="center-computed"),
    pytest.param("{{ name.center(1000000000) }}", "a text of 1,000,000,000 characters", id="str-center"),
    pytest.param("{{ name.ljust(999999999) }}", "a text of 999,999,999 characters", id="str-ljust"),
    pytest.param("{{ name.zfill(999999999) }}", "a text of 999,999,999 characters", id="str-zfill"),
    pytest.param("{{ ('\t' * 100000).expandtabs(100000) }}", "a text of 10,000,100,000", id="expandtabs"),
    pytest.param("{{ name|indent(1000000000, true) }}", "a text of 1,000,000,000 characters", id="indent"),
    pytest.param("{{ ('\n' * 100000)|indent('x' * 100000, blank=true) }}", "a text of 10,000,", id="indent-lines"),
    pytest.param("{{ '%1000000000s' % name }}", "pad a field to 1,000,000,000 characters", id="percent-width"),
    pytest.param("{{ '%*s' % (1000000000, name) }}", "a text of 1,000,000,", id="percent-star"),
    pytest.param("{{ '%.1000000000f' % 1.0 }}", "pad a field to 1,000,000,000 characters", id="percent-precision"),
    pytest.param("{{ '%1000000000s'|format(name) }}", "pad a field to 1,000,000,000 characters", id="format-filter"),
    pytest.param("{{ '{:1000000000}'.format(name) }}", "pad a field to 1,000,000,000 characters", id="str-format"),
    pytest.param(
        "{{ '{:{w}}'.format(name, w=999999999) }}", "pad a field to 999,999,999 characters", id="str-format-nested"
    ),
    pytest.param(
        "{{ '{a:>999999999}'.format_map({'a': name}) }}", "pad a field to 999,999,999 characters", id="format-map"
    ),
    pytest.param("{{ (['x' * 100000] * 100000)|join }}", "a text of 1,100,000 characters", id="join"),
    pytest.param("{{ ''.join(['x' * 100000] * 100000) }}", "a text of 1,100,000 characters", id="str-join"),
    pytest.param("{{ ('x' * 100000)|replace('x', 'y' * 100000) }}", "a text of 10,000,000,000", id="replace"),
    pytest.param("{{ ('x' * 100000).replace('', 'y' * 100000) }}", "a text of 10,000,200,000", id="str-replace"),
    pytest.param("{{ ('x' * 100000).translate({120: 'y' * 100000}) }}", "a text of 10,000,000,000", id="translate"),
    pytest.param(
        "{% set l = ['x' * 100000] %}{% for i in range(64) %}{{ l.extend(l) }}{% endfor %}",
        "a list of 131,072 items",
        id="list-extend",
    ),
    pytest.param(
        "{% set l = [] %}{% for i in range(100000) %}{{ l.append('x' * 100000 ~ i) }}{% endfor %}",
        "it builds more than 20,000,000 characters and items in all",
        id="list-append",
    ),
    pytest.param(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "it loops, calls and filters more than 200,000 times",
        id="nested-loops",
    ),
    pytest.param(
        "{% for i in range(100000) %}{% for j in range(100000) %}xxxxxxxxxx{% endfor %}{% endfor %}",
        "it writes more than 1,000,000 characters",
        id="nested-loops-writing",
    ),
    pytest.param(
        "{% set b %}{% for i in range(100000) %}{% for j in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"
        "{% endfor %}{% endset %}{{ b|length }}",
        "it builds more than 20,000,000 characters and items in all",
        id="loops-in-a-set-block",
    ),
    pytest.param(
        "{% set d = {'x': 10} %}{% for i in range(64) %}{{ d.update({'x': d.x * d.x}) }}{% endfor %}",
        "an integer of",
        id="squaring",
    ),
    pytest.param("{{ 2 ** 1000000000 }}", "an integer of 1,000,000,001 bits", id="power"),
    pytest.param(
        "{% set d = {'s': 'x'} %}{% for i in range(64) %}{{ d.update({'s': d.s ~ d.s}) }}{% endfor %}",
        "a text of 1,048,576 characters",
        id="concat-doubling",
    ),
    pytest.param(
        "{% set d = {'s': 'x'} %}{% for i in range(64) %}{{ d.update({'s': d.s + d.s}) }}{% endfor %}",
        "a text of 1,048,576 characters",
        id="plus-doubling",
    ),
    pytest.param(
        "{% set d = {'l': ['x']} %}{% for i in range(64) %}{{ d.update({'l': d.l + d.l}) }}{% endfor %}",
        "a list of 131,072 items",
        id="list-doubling",
    ),
    pytest.param(
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
        "exceeds the template limits",  # the time or the count, whichever the machine reaches first
        id="macro-recursion",
    ),
    pytest.param(
        "{% for i in range(100000) recursive %}{% if loop.depth < 4 %}{{ loop(range(100000)) }}{% endif %}{% endfor %}",
        "exceeds the template limits",
        id="recursive-loop",
    ),
    pytest.param("{{ (1).to_bytes(1000000000, 'big') }}", "a text of 1,000,000,000 characters", id="to-bytes"),
    pytest.param("{{ lipsum(1000000) }}", "a text of 1,600,000,000 characters", id="lipsum"),
    pytest.param("{{ [1]|batch(1000000000, 'x')|list }}", "a list of 1,000,000,000 items", id="batch"),
    pytest.param("{{ [1]|slice(100000000)|list }}", "a list of 100,000,000 items", id="slice"),
    pytest.param("{{ [[1]]|tojson(1000000000) }}", "a text of 6,000,000,014 characters", id="tojson-indent"),
    pytest.param("{{ [['x' * 100000] * 100000] }}", "a text of 10,000,", id="nested-list-written"),
    pytest.param("{{ [['x' * 100000] * 100000]|string }}", "a text of 10,000,", id="nested-list-string"),
    pytest.param("{{ [['x' * 100000] * 100000]|tojson }}", "a text of 10,000,", id="nested-list-tojson"),
    pytest.param("{{ ('x ' * 50000)|wordwrap(1, wrapstring='y' * 100000) }}", "a text of 10,000,", id="wordwrap"),
    pytest.param("{{ ([[1] * 1000] * 100000)|sum(start=[]) }}", "a list of 100,000,000 items", id="sum-of-lists"),
    pytest.param("{{ ('a.com ' * 100000)|urlize }}", "a text of", id="urlize"),
    pytest.param("{{ {('k' * 1000): range(1000)|list}|pprint }}", "a text of", id="pprint"),  # indented under its key
]


@pytest.mark.parametrize(("template", "why"), HOSTILE)
def test_rejects_a_template_past_the_limits_quickly_and_in_little_memory(template: str, why: str) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    rendered, problems = render(template, VARIABLES, where="iam.toml: naming.user (environment 'production')")
    took = time.monotonic() - started
    grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024  # KiB on Linux
    assert rendered is None
    (problem,) = problems
    assert problem.where == "iam.toml: naming.user (environment 'production')"
    assert problem.why.startswith("exceeds the template limits"), problem.why
    assert why in problem.why
    assert problem.fix.startswith("make the template do less; one render may use texts of up to 1,000,000")
    assert took < SECONDS
    assert grew < MEBIBYTES


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ('[naming]\nuser = "{{ name|center(10**9) }}"\n', "iam.toml: naming.user (environment 'production')"),
        (
            '[policy]\ndescription = "{% for i in range(100000) %}{% for j in range(9) %}{% endfor %}{% endfor %}"\n',
            "iam.toml: policy.description (environment 'production')",
        ),
        (
            "[backend]\nbucket = \"state-bucket\"\nkey = \"{{ user }}/{{ '%*s' % (10**9, 'x') }}\"\n",
            "iam.toml: backend.key (environment 'production')",
        ),
    ],
)
def test_rejects_a_template_past_the_limits_at_its_key(tmp_path: Path, toml: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        blueprint_of(toml, tmp_path)
    found = [problem for problem in caught.value.problems if problem.where == where]
    assert found, [problem.render() for problem in caught.value.problems]
    assert found[0].why.startswith("exceeds the template limits at line 1: "), found[0].why


def test_rejects_a_partial_loaded_in_a_loop_past_the_limits(tmp_path: Path) -> None:
    (tmp_path / "big.j2").write_text("x" * 100_000, encoding="utf-8")
    (tmp_path / "mine.json.j2").write_text(
        '{% set b %}{% for i in range(100000) %}{% include "big.j2" %}{% endfor %}{% endset %}{}', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        blueprint_of('[policy]\ntemplate = "mine.json.j2"\n', tmp_path)
    (problem,) = caught.value.problems
    assert problem.where == "iam.toml: policy.template (mine.json.j2)"
    assert "exceeds the template limits" in problem.why
    assert "it builds more than 20,000,000 characters and items in all" in problem.why


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{{ [name]|map(attribute='nope')|list }}", "'str object' has no attribute 'nope'"),
        ("{{ [name]|map(attribute='nope')|join(',') }}", "'str object' has no attribute 'nope'"),
        ("{{ [name.nope] }}", "'str object' has no attribute 'nope'"),
        ("{{ {'a': [name.nope]}|string }}", "'str object' has no attribute 'nope'"),
        ("{{ 'x' ~ [name.nope] }}", "'str object' has no attribute 'nope'"),
        ("{{ '%s' % [[name.nope]] }}", "'str object' has no attribute 'nope'"),
        ("{{ '{}'.format([name.nope]) }}", "'str object' has no attribute 'nope'"),
        ("{{ [name]|groupby('nope') }}", "'str object' has no attribute 'nope'"),
    ],
)
def test_rejects_an_undefined_value_hidden_in_a_list(template: str, why: str) -> None:
    rendered, problems = render(template, VARIABLES, where="naming.user")
    assert rendered is None
    (problem,) = problems
    assert problem.why == f"failed to render at line 1 (UndefinedError: {why})"


# Benign templates, including every construct the limits watch: the text must be what jinja2's own sandbox
# writes, byte for byte.
BENIGN = [
    "{{ environment }}-{{ name }}",
    "{{ environment | lower | replace('-', '_') }}-{{ name }}-{{ region.split('-') | join('') }}",
    "{{ name ~ '-' ~ environment ~ 1 ~ none }}",
    "{{ name + '-' + environment }} {{ [1, 2] + [3] }} {{ (1, 2) * 2 }} {{ 'ab' * 3 }} {{ 3 * 'x' }}",
    "{{ 2 ** 64 }} {{ 2 ** -2 }} {{ 1.5 ** 2 }} {{ 7 % 3 }} {{ 10 * 10 }} {{ 0 ** 9 }}",
    "{{ '%s-%05d-%.2f-%x' % (name, 42, 3.14159, 255) }} {{ '%(a)s' % {'a': region} }} {{ '%s' % [1, 'a'] }}",
    "{{ '{}-{:>8}-{:.3f}-{!r}'.format(name, environment, 2.5, region) }} {{ '{a}'.format_map({'a': 1}) }}",
    "{{ '%s/%s'|format(name, region) }} {{ name|center(20) }}|{{ name.ljust(15, '.') }}|{{ '7'.zfill(3) }}",
    "{{ 'a\nb'|indent(2, true) }} {{ 'a\nb'|indent('> ') }} {{ 'a\tb'.expandtabs(4) }}",
    "{% for x in [3, 1, 2]|sort %}{{ loop.index }}:{{ x }}/{{ loop.length }}{% if not loop.last %},{% endif %}"
    "{% else %}none{% endfor %}",
    "{% for x in [] %}{{ x }}{% else %}none{% endfor %} {% for c in name if c != 'e' %}{{ c }}{% endfor %}",
    "{% for k, v in {'b': 1, 'a': 2}|dictsort %}{{ k }}={{ v }};{% endfor %}",
    "{% for x in [[1, [2]], [3]] recursive %}[{% if x is iterable %}{{ loop(x) }}{% else %}{{ x }}{% endif %}]"
    "{% endfor %}",
    "{% macro tag(n) %}<{{ n }}>{{ caller() }}</{{ n }}>{% endmacro %}{% call tag('b') %}{{ name }}{% endcall %}",
    "{% set parts = [] %}{% for p in [name, environment] %}{{ parts.append(p) or '' }}{% endfor %}"
    "{{ parts|join('.') }} {% set d = {} %}{{ d.update({'a': 1}) or '' }}{{ d }}",
    "{{ [{'n': 'a'}, {'n': 'b'}]|map(attribute='n')|join(',') }} {{ [1, 2, 3]|select('odd')|list }}",
    "{{ [1, 2, 3, 4, 5]|batch(2, 0)|list }} {{ [1, 2, 3]|slice(2)|list }} {{ [[1], [2]]|sum(start=[]) }}",
    "{{ {'b': [1, 'x'], 'a': none}|tojson }} {{ [1, {'a': 2}]|tojson(2) }} {{ {'a': [1, 2]}|pprint }}",
    "{{ 'a b c d'|wordwrap(3) }} {{ 'see www.example.com'|urlize }} {{ [1, 2]|string }} {{ '<&>'|e }}",
    "{{ 'Hello World'|title|truncate(9) }} {{ '  x  '|trim }} {{ 'a,b'|replace(',', ', ') }} {{ 'ab'|reverse }}",
    "{{ (['a', 'b']|unique|list) }} {{ [3, 1]|max }} {{ 'x'|list }} {{ range(3)|list }} {{ 'k=v'.partition('=') }}",
    "{% set x %}{% for i in range(3) %}{{ i }}{% endfor %}{% endset %}{{ x }}{% filter upper %}{{ name }}{% endfilter %}",
    "{{ name[:6] }}{{ name[-3:] }}{{ name|length }}{{ region is string }}{{ lipsum(1, html=false, min=2, max=3)|length > 0 }}",
    "{% autoescape true %}{{ '<' ~ name }}{% endautoescape %}{{ '<'|safe ~ '>' }}",
]


@pytest.mark.parametrize("template", BENIGN)
def test_renders_a_benign_template_as_jinja2s_sandbox_does(template: str) -> None:
    expected = SandboxedEnvironment(undefined=jinja2.StrictUndefined).from_string(template).render(**VARIABLES)
    assert render(template, VARIABLES, where="naming.user") == (expected, [])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_the_address_space_cap_stops_an_allocation_past_its_headroom() -> None:
    before = resource.getrlimit(resource.RLIMIT_AS)
    with _address_space_cap():
        with pytest.raises(MemoryError):
            bytearray(MEMORY_HEADROOM + 2**26)
        assert len(bytearray(2**24)) == 2**24  # what a render needs is still there
    assert resource.getrlimit(resource.RLIMIT_AS) == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_the_address_space_stays_uncapped_while_other_work_runs() -> None:
    before = resource.getrlimit(resource.RLIMIT_AS)
    with other_work_running("a thread starting Node"), _address_space_cap():
        assert resource.getrlimit(resource.RLIMIT_AS) == before
        assert len(bytearray(MEMORY_HEADROOM + 2**26)) == MEMORY_HEADROOM + 2**26
    with _address_space_cap():  # and capped again once it has ended
        assert resource.getrlimit(resource.RLIMIT_AS) != before


@pytest.mark.parametrize(
    "toml",
    [
        "[naming]\nuser = \"{{ 'TfToken' ~ '[TOKEN.1]' }}\"\n",
        "[policy]\ndescription = \"{{ 'TfToken' ~ '[TOKEN.1]' }}\"\n",
        "[backend]\nbucket = \"state-bucket\"\nkey = \"{{ user }}/{{ 'TfToken' ~ '[TOKEN.1]' }}\"\n",
    ],
)
def test_rejects_a_rendered_cdktf_token_marker_as_a_problem(tmp_path: Path, toml: str) -> None:
    with pytest.raises(ConfigError) as caught:
        blueprint_of(toml, tmp_path)
    assert any("TfToken[" in problem.render() for problem in caught.value.problems)


def test_the_configuration_doc_states_the_limits() -> None:
    text = " ".join((REPO / "docs" / "configuration.md").read_text(encoding="utf-8").split())
    for stated in (
        f"no text longer than {MAX_TEXT:,} characters",
        f"no list over {MAX_ITEMS:,} items",
        f"no integer over {MAX_INT_BITS:,} bits",
        f"at most {MAX_BUILT:,} characters and items built in all, {MAX_STEPS:,} loop rounds, calls and filters, "
        f"{TIME_LIMIT:g} second, and (on Linux) {MEMORY_HEADROOM // 2**20} MiB more memory",
    ):
        assert stated in text
