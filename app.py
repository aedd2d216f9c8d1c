"""Gradio demo (translate / summarize with attention heatmaps): coming with its issue.

For now this prints how to use the command line instead.
"""

if __name__ == "__main__":
    print("The demo is not built yet; train with `python -m translator.train --config dates`.")
