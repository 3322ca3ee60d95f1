"""The invoice PDF rendered when payments issues an invoice."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from switchboard_shared.contracts.payments import InvoiceIssued

from ..summary import money
from .pdf import MUTED, SwitchboardPdf, long_date


def render_invoice(invoice: InvoiceIssued, issued_on: date, path: Path) -> None:
    pdf = SwitchboardPdf(f"Invoice {invoice.invoice_number}")
    pdf.add_page()
    pdf.heading("Invoice", f"{invoice.invoice_number} · issued {long_date(issued_on)}")
    pdf.set_font("DejaVu", "", 10)
    for label, value in (("Invoice number", invoice.invoice_number), ("Order", invoice.order_id)):
        pdf.set_text_color(*MUTED)
        pdf.cell(40, 7, label)
        pdf.set_text_color(0, 0, 0)
        pdf.cell(0, 7, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    total = money(invoice.amount, invoice.currency)
    pdf.grid(["Description", "Amount"], [[f"Order {invoice.order_id}", total]])
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 13)
    pdf.cell(0, 9, f"Total paid: {total}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
