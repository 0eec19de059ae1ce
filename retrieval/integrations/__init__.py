"""Retrievers for RAG frameworks, each an optional extra imported on its own:

- ``retrieval.integrations.langchain.RetrievalRetriever`` (``pip install 'retrieval[langchain]'``)
- ``retrieval.integrations.llama_index.RetrievalRetriever`` (``pip install 'retrieval[llama-index]'``)
- ``retrieval.integrations.haystack.RetrievalRetriever`` (``pip install 'retrieval[haystack]'``)

All three take the same arguments (``engine``, ``k``, ``mode``, ``filters``, ``params``) and put
the same keys in each document's metadata (``searching.METADATA_KEYS``). ``engine`` is an opened
``Engine`` (a bundle or a collection), a ``RetrievalClient`` of a running ``retrieval serve``, or
the path of a bundle or collection to open.
"""
