"""Find words a widget cannot show whole: buttons, check boxes, labels, combo boxes and their
items, spin boxes and table cells whose text is wider than the room they draw it in
(font metrics against the widget's own geometry, as Qt's style lays it out).

``cut_texts(root)`` walks every widget shown under ``root`` (including the parts scrolled
out of view: the person can scroll to them) and returns one line per offender.
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QLabel,
    QPushButton,
    QStyle,
    QStyleOptionButton,
    QStyleOptionComboBox,
    QTableWidget,
    QToolButton,
    QWidget,
)

SLACK = 1  # px of rounding allowed


def _text_width(widget: QWidget, text: str) -> int:
    return widget.fontMetrics().horizontalAdvance(text.replace("&", ""))


def _name(w: QWidget) -> str:
    text = w.text() if hasattr(w, "text") and callable(w.text) else ""
    return f"{type(w).__name__} {w.objectName()!r} {text!r}"


def _button(b: QAbstractButton) -> str | None:
    text = b.text()
    if not text:
        return None
    need = _text_width(b, text)
    style = b.style()
    if isinstance(b, QCheckBox):
        opt = QStyleOptionButton()
        b.initStyleOption(opt)
        room = style.subElementRect(QStyle.SubElement.SE_CheckBoxContents, opt, b).width()
    elif isinstance(b, QPushButton):
        opt = QStyleOptionButton()
        b.initStyleOption(opt)
        room = style.subElementRect(QStyle.SubElement.SE_PushButtonContents, opt, b).width()
        if b.menu() is not None:  # the menu arrow is drawn inside the contents
            room -= style.pixelMetric(QStyle.PixelMetric.PM_MenuButtonIndicator, opt, b)
    elif isinstance(b, QToolButton):
        room = b.width() - (b.iconSize().width() + 8 if b.arrowType() or not b.icon().isNull() else 4)
    else:
        room = b.width()
    return None if room + SLACK >= need else f"{_name(b)}: room {room} < {need}"


def _label(lb: QLabel) -> str | None:
    text = lb.text()
    if not text or lb.textFormat() == 1 or text.startswith("<"):  # rich text: not measured
        return None
    shown = getattr(lb, "shown_text", None)
    if callable(shown):  # an eliding label
        return None if shown() == text else f"{_name(lb)}: shown as {shown()!r}"
    room = lb.contentsRect().width()
    if lb.wordWrap():
        words = max((_text_width(lb, w) for w in text.split()), default=0)
        if words > room + SLACK:
            return f"{_name(lb)}: a word of {words} px in {room}"
        need_h = lb.heightForWidth(lb.width())
        if need_h > lb.height() + SLACK:
            return f"{_name(lb)}: {need_h} px of lines in {lb.height()}"
        return None
    need = max(_text_width(lb, line) for line in text.split("\n"))
    return None if room + SLACK >= need else f"{_name(lb)}: room {room} < {need}"


def _combo(c: QComboBox) -> str | None:
    opt = QStyleOptionComboBox()
    c.initStyleOption(opt)
    field = c.style().subControlRect(
        QStyle.ComplexControl.CC_ComboBox, opt, QStyle.SubControl.SC_ComboBoxEditField, c
    )
    room = field.width()
    for i in range(c.count()):
        text = c.itemText(i)
        need = _text_width(c, text) + (0 if c.itemIcon(i).isNull() else c.iconSize().width() + 4)
        if need > room + SLACK:
            return f"{_name(c)}: item {text!r} needs {need} in {room}"
    return None


def _spin(s: QAbstractSpinBox) -> str | None:
    edit = s.lineEdit() if hasattr(s, "lineEdit") else None
    if edit is None:
        return None
    text = edit.text()
    room = edit.width() - 4
    need = _text_width(edit, text)
    return (
        None if room + SLACK >= need else f"{type(s).__name__} {s.objectName()!r} {text!r}: {room} < {need}"
    )


def _table(t: QTableWidget) -> list[str]:
    out = []
    header = t.horizontalHeader()
    for c in range(t.columnCount()):
        if t.isColumnHidden(c):
            continue
        width = t.columnWidth(c)
        head = t.horizontalHeaderItem(c)
        if head is not None and head.text():
            need = _text_width(header, head.text()) + 8
            if need > width + SLACK:
                out.append(f"{t.objectName()!r} header {head.text()!r}: {width} < {need}")
        for r in range(t.rowCount()):
            item = t.item(r, c)
            if item is None or not item.text():
                continue
            need = _text_width(t, item.text()) + 8
            if not item.icon().isNull():
                need += t.iconSize().width() if t.iconSize().width() > 0 else 16
            if item.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                need += 20  # the check box drawn before the text
            if need > width + SLACK:
                out.append(f"{t.objectName()!r} cell {item.text()!r}: {width} < {need}")
    return out


def cut_texts(root: QWidget) -> list[str]:
    """One line per text drawn cut (or elided) among the widgets shown under ``root``."""
    out: list[str] = []
    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisible() or w.width() <= 0:
            continue
        if isinstance(w.parentWidget(), QAbstractSpinBox | QComboBox):
            continue  # a spin box's or an editable combo's line edit: checked with it
        problem: str | None = None
        if isinstance(w, QAbstractButton):
            problem = _button(w)
        elif isinstance(w, QLabel):
            problem = _label(w)
        elif isinstance(w, QComboBox):
            problem = _combo(w)
        elif isinstance(w, QAbstractSpinBox):
            problem = _spin(w)
        elif isinstance(w, QTableWidget):
            out += _table(w)
        if problem:
            out.append(problem)
    return out
