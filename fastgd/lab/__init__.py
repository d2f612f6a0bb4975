"""The lesson's lab: test surfaces, the experiments that measure each idea, the report.

Public as ``fastgd.functions`` (the surfaces), ``fastgd.diagnostics`` and ``fastgd.report``."""
