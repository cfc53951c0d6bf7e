"""llamasize check: manifests -> deployments -> the estimator -> findings -> formats.

Where things live (imports go down this list): ``report`` (Finding, CheckReport and the input
models), ``rule`` (the registry machinery), ``yamltree`` (the line-keeping YAML reader), ``shell``
(shell words), ``target`` (what is known about one deployment), ``rules`` (every rule with the code
that decides it), ``flags`` (vLLM/SGLang command lines), ``extract/`` (one module per manifest
family), ``resolve`` (models, GPUs, settings), ``run`` (``check_paths``), ``formats`` (renderers).
"""
