"""The reserved ids and pieces every tokenizer, layer, pipeline and decoder agrees on.

``PAD_ID=0`` pads batches (embeddings mask it, the loss ignores it), ``UNK_ID=1``
stands for unknown pieces, ``START_ID=2`` starts every decoder input and ``END_ID=3``
ends every label.  Kept apart from :mod:`translator.tokenizer` so that the model
layers and metrics need no tokenizer (and no tensorflow-text) to know them.
"""

PAD_ID = 0
UNK_ID = 1
START_ID = 2
END_ID = 3
RESERVED_PIECES = ("<pad>", "<unk>", "<s>", "</s>")  # the pieces of ids 0-3, in order
UNK_TEXT = "⁇"  # how an unknown id shows in detokenized char/word text
