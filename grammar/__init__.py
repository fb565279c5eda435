"""Languages of iamlogic: AWS JSON policy documents, the world language, and the Datalog dialect.

This package turns text into frozen AST values with source spans and diagnostics. It knows
nothing of the engine: it never imports pyDatalog, and it is the only package that imports lark.
"""
