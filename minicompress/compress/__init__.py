"""The compression techniques (layer 4): each file one idea, each built on the layers below.

=========================  ===================================================================
module                     what it holds
=========================  ===================================================================
``pruning/``               masks, magnitude / random / structured / global pruning, schedules,
                           ``prune_model`` (every method by name), reports, ``pruned_bytes``
``quantization/``          uniform quantizers, observers, fake quantization, PTQ, QAT, the
                           integer model, ``quantize_model`` (every method by name)
``weights``                ``map_weights`` (a function on every weight) and the float bytes
``bitpack``                bit packing, least significant bit first: the one bit order
``relative_csr``           Deep Compression's sparse storage with relative indices
``sparse_inference``       the forward pass of a pruned model on its nonzero weights
``kmeans``                 k-means weight sharing and centroid fine-tuning
``huffman``                canonical Huffman coding
``packing``                the ``.mcz`` file: every byte of a compressed model, counted
``deep_compression``       ``deep_compress``: prune, share weights, fine-tune, in one call
``kd_loss``                Hinton's distillation loss on the loss family of ``nn.losses``
``distill``                ``distill``, the training routine (and the losses re-exported)
``hints``                  FitNets hints
``transfer``               transfer learning: heads, fine-tuning, the E9 experiment
``documents_distill``      the documents' own distillation examples (doc 000, doc 002)
=========================  ===================================================================

Import from the packages: ``minicompress.compress.pruning``,
``minicompress.compress.quantization``, and the modules above by name.

What a technique returns (one rule, PyTorch's)
----------------------------------------------
A technique takes a model and **returns a model**:

* pruning changes the module **in place and returns it**, as ``torch.nn.utils.prune``:
  ``l1_unstructured``, ``prune_model``, ``remove``, ``e3_scale_by_retention``;
* a technique that builds a different model returns **a new model and leaves its input
  untouched**, as ``torch.ao.quantization.convert(inplace=False)``: ``quantize_model``,
  ``prepare``, ``convert``, ``static_ptq``, ``shrink``, ``map_weights``; ``to_integer``
  returns the integer model.

A function that returns anything else says what in its name:

* ``*_with_info`` / ``*_with_tensors`` return ``(model, ...)``: ``quantize_model_with_info``
  (and its info dict), ``quantize_weights_with_tensors`` (and the ``QuantizedTensor`` of
  every weight);
* ``*_report`` returns a dict of measurements: ``sparsity_report``,
  ``e5_random_candidate_report``, ``e5_random_candidate_model_report`` (these prune in
  place);
* ``*_bytes`` returns a byte count: ``float32_bytes``, ``pruned_bytes``,
  ``quantized_bytes``, ``integer_bytes``, ``stage_bytes`` (one per stage);
* a training routine returns what ``minicompress.training.fit`` returns, its per-epoch
  history (``distill``, ``fine_tune``); ``share_weights`` returns the clusterings that
  ``CentroidOptimizer`` needs (the model is changed in place); ``deep_compress`` returns a
  documented :class:`~minicompress.compress.deep_compression.DeepCompressionResult`.

How much to prune has one name, ``sparsity`` (absolute: the fraction of the entries that
are zero afterwards); ``amount`` appears only where it is PyTorch's fraction of the entries
still unpruned.
"""
