from release.adapters.worktree_git import FileChange, _name_status
from release.change.report import to_changes


def test_name_status_z_output_with_renames():
    out = "M\0a.py\0R087\0old.py\0new.py\0D\0gone.py\0A\0sp ace.py\0"
    assert _name_status(out) == [
        FileChange("M", "a.py"),
        FileChange("R", "new.py", "old.py"),
        FileChange("D", "gone.py"),
        FileChange("A", "sp ace.py"),
    ]


def test_rename_becomes_deleted_plus_added():
    changes = to_changes(
        [FileChange("R", "new.py", "old.py"), FileChange("C", "c.py", "a")]
    )
    assert [(c.path, c.status, c.renamed) for c in changes] == [
        ("c.py", "added", ""),
        ("new.py", "added", "old.py"),
        ("old.py", "deleted", "new.py"),
    ]
