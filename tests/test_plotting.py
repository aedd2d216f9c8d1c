import numpy as np

from translator.plotting import attention_figure, save_attention_png, top_attended_span


def test_heatmap_labels_and_shape(tmp_path):
    weights = np.eye(3, 4, dtype="float32")
    fig = attention_figure(["▁hola", "▁mundo", "!", "x"], ["▁hello", "▁world", "</s>"], weights)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["hola", "mundo", "!", "x"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["hello", "world", "</s>"]
    assert ax.images[0].get_array().shape == (3, 4)
    assert len(fig.axes) == 2  # the colour bar
    path = tmp_path / "a.png"
    save_attention_png(str(path), ["a"], ["b"], np.ones((1, 1)))
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_long_sources_show_the_most_attended_window():
    weights = np.zeros((2, 200), "float32")
    weights[:, 150] = 1.0
    start, stop = top_attended_span(weights, 80)
    assert start <= 150 < stop and stop - start == 80
    fig = attention_figure([f"w{i}" for i in range(200)], ["a", "b"], weights, title="t")
    ax = fig.axes[0]
    assert len(ax.get_xticklabels()) == 80
    assert "of 200" in ax.get_title()
