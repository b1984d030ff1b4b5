"""The embedded PostgreSQL's handles (`loyalty.database`)."""

from __future__ import annotations

import json
import os
import subprocess

from loyalty.database import forget_handles_of_the_dead


def test_the_handles_of_processes_gone_are_forgotten_so_the_embedded_server_is_stopped_again(tmp_path):
    # given the handles of the embedded server: this process, and one killed outright (its pid left behind)
    gone = subprocess.Popen(["true"])
    gone.wait()
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(json.dumps([os.getpid(), gone.pid]))
    # when a new handle is about to be taken, then only the living are kept
    forget_handles_of_the_dead(tmp_path)
    assert json.loads(handles.read_text()) == [os.getpid()]
    # and a folder without handles, or with a file that is not the wheel's, is left alone
    forget_handles_of_the_dead(tmp_path / "none")
    handles.write_text("not json")
    forget_handles_of_the_dead(tmp_path)
    assert handles.read_text() == "not json"
