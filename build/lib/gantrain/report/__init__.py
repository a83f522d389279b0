"""`gantrain-report`: tables, figures and a short summary from a folder of finished runs.

``collect`` finds and reads run directories (training runs, ``gantrain-analyze`` spectra, jobs that
failed before writing anything) and groups them into settings; ``tables`` aggregates over seeds and
writes table.md/table.csv; ``figures`` draws the papers' figure layouts; ``checks`` states measured
numbers for summary.md; ``cli`` is the command line.
"""
