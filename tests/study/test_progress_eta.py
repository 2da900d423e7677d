"""The ETA is shown only once it means something (a rate measured after the first point)."""
import io

from imcsim.study.progress import Progress


def test_no_eta_after_the_first_point_only():
    out = io.StringIO()
    bar = Progress(4, stream=out)
    bar.update("a")
    assert "ETA --:--" in out.getvalue().splitlines()[-1]
    bar.update("b")
    assert "ETA --:--" not in out.getvalue().splitlines()[-1]
    bar.update("c")
    bar.update("d")
    assert out.getvalue().splitlines()[-1].endswith("ETA 00:00")
