"""JSON documents kept between processes (earful/json_files.py): real files in a temp dir."""

from earful.json_files import JsonFiles


def test_a_document_is_read_back_whole(tmp_path):
    files = JsonFiles(tmp_path / "kept")  # the directory is made on first use
    assert files.get("a") is None
    files.put("a", {"values": [8.0, 12.5]})
    assert files.get("a") == {"values": [8.0, 12.5]}
    files.put("a", {"values": [9.0]})  # replaced whole
    assert files.get("a") == {"values": [9.0]}
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["a.json"]  # no partial file left


def test_an_unreadable_document_counts_as_absent(tmp_path):
    (tmp_path / "a.json").write_text("{half a rec")
    assert JsonFiles(tmp_path).get("a") is None


def test_a_failed_write_is_logged_not_raised(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    JsonFiles(blocker / "kept").put("a", {"x": 1})  # a file where the directory should be
    assert "not kept" in caplog.text
