"""The flags the waiting verbs share (--no-wait, --timeout, --force), defined once in
byoc.cli.aws_flags: each verb's help states its own default wait, and every verb parses them
alike. The real parser of the `byoc` command, with no AWS call."""

from __future__ import annotations

import pytest

from byoc.cli import build_parser, main
from byoc.cli.aws_flags import duration

# Each verb with --timeout, and the default its help must state.
DEFAULTS = [
    (["train"], "(default: the job's --max-run, or --max-wait with --spot, + 30 min)"),
    (["tune"], "(default: the trials' --max-run, or --max-wait with --spot, for each round of "
               "--max-parallel-jobs trials, + 30 min)"),
    (["deploy"], "(default: 1 h; with --update, 1 h beyond its baking and --termination-wait)"),
    (["transform"], "(default: 6 h)"),
    (["pipeline", "start"], "(default: the limit of its training step, or of its tuning "
                            "step's rounds of parallel trials, + 30 min)"),
    (["invoke"], "the requests stay queued on the endpoint (default: 1 h)"),
    (["autopilot", "start"], "(default: --max-runtime + 30 min)"),
    (["autopilot", "status"], "(default: --max-runtime + 30 min)"),
    (["logs"], "with --follow: stop after this long (default: when the job ends)"),
    (["attach"], "(default: its --max-run, or --max-wait, + 30 min)"),
]


@pytest.mark.parametrize(("verb", "default"), DEFAULTS,
                         ids=[" ".join(verb) for verb, _ in DEFAULTS])
def test_each_verbs_timeout_help_states_its_own_default(verb, default, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line a flag: no help text broken at a hyphen
    with pytest.raises(SystemExit) as exit_:
        main([*verb, "--help"])
    assert exit_.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "--timeout SECONDS" in shown
    assert default in shown


# The least each verb needs to parse, and which of --no-wait and --timeout it takes.
VERBS = [
    (["train", "--image", "i", "--data", "d"], {"--no-wait", "--timeout"}),
    (["tune", "--image", "i", "--data", "d"], {"--no-wait", "--timeout"}),
    (["deploy", "--endpoint-name", "e"], {"--no-wait", "--timeout"}),
    (["transform", "--input", "s3://b/i", "--output", "s3://b/o"], {"--no-wait", "--timeout"}),
    (["pipeline", "start", "p"], {"--no-wait", "--timeout"}),
    (["invoke", "f.png", "--endpoint", "e"], {"--no-wait", "--timeout"}),
    (["autopilot", "start", "--csv", "c.csv", "--target", "y"], {"--no-wait", "--timeout"}),
    (["autopilot", "deploy", "--job-name", "j", "--endpoint-name", "e"], {"--no-wait"}),
    (["logs", "j"], {"--timeout"}),
    (["attach", "j"], {"--timeout"}),
]


@pytest.mark.parametrize(("argv", "flags"), VERBS,
                         ids=[" ".join(argv[:2]) for argv, _ in VERBS])
def test_the_shared_flags_parse_alike_on_every_verb(argv, flags, capsys):
    parser = build_parser()
    plain = parser.parse_args(argv)
    assert hasattr(plain, "no_wait") == ("--no-wait" in flags)
    assert hasattr(plain, "timeout") == ("--timeout" in flags)
    if "--no-wait" in flags:
        assert plain.no_wait is False
        assert parser.parse_args([*argv, "--no-wait"]).no_wait is True
    if "--timeout" in flags:
        assert plain.timeout is None
        assert parser.parse_args([*argv, "--timeout", "2.5"]).timeout == 2.5
        with pytest.raises(SystemExit):
            parser.parse_args([*argv, "--timeout", "0"])
        assert "--timeout: must be positive, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["deploy", "--endpoint-name", "e", "--package", "arn:p"],
    ["pipeline", "delete", "p"],
])
def test_force_is_off_unless_given(argv):
    parser = build_parser()
    assert parser.parse_args(argv).force is False
    assert parser.parse_args([*argv, "--force"]).force is True


@pytest.mark.parametrize(("seconds", "said"), [
    (3600, "1 h"), (6 * 3600, "6 h"), (1800, "30 min"), (45, "45 s"), (90.5, "90.5 s")])
def test_duration_says_seconds_in_the_largest_whole_unit(seconds, said):
    assert duration(seconds) == said
