from mediator.cli import main


def test_demo_runs_and_reports_every_message(capsys: object) -> None:
    assert main(["demo", "--entities", "50", "--messages", "20000"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "20,000 approved time entries routed to 50 project actors" in out
    assert "failures 2, restarts 2" in out
