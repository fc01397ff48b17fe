"""The use cases behind engine.service.Chamados, one concern per module.

Each class is built from one unit of work (engine.unit) and is an attribute of the
facade; ``base`` and ``recording`` hold the steps they share.
"""
