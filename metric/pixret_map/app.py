import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("pixret/pixret_map")
launch_gradio_widget(module)
