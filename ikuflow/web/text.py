"""The pages' words: Bahasa Indonesia first, English by the switch (``?lang=en``)."""

from __future__ import annotations

LANGS = ("id", "en")


class Words(dict):
    """The words of one language, read as ``t["key"]`` in Python and ``t.key`` in a template
    (an attribute, not a failed attribute lookup and then an item: a page reads dozens)."""

    def __getattr__(self, name: str) -> str:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


_TEXT: dict[str, dict[str, str]] = {
    "id": {
        "app": "ikuflow", "tasks": "Tugas saya", "overdue": "Terlambat", "report": "Laporan",
        "sign_in": "Masuk", "sign_out": "Keluar", "email": "Alamat e-mail",
        "sign_in_intro": "Ketik alamat e-mail Anda di direktori. Kami mengirim tautan masuk yang berlaku "
                         "15 menit, sekali pakai.",
        "send_link": "Kirim tautan masuk",
        "sent": "Jika alamat itu ada di direktori, tautan masuk sudah dikirim ke sana. Periksa kotak masuk "
                "Anda; tautan berlaku 15 menit.",
        "link_intro": "Tekan tombol di bawah untuk masuk sebagai pemilik tautan ini.",
        "link_bad": "Tautan masuk ini tidak berlaku lagi (sudah dipakai, kedaluwarsa, atau salah). Minta "
                    "tautan baru.",
        "ask_again": "Minta tautan baru",
        "signed_in_as": "Masuk sebagai", "nothing": "Tidak ada yang menunggu Anda.",
        "document": "Dokumen", "state": "Tahap", "due": "Batas waktu", "office": "Kantor",
        "division": "Divisi", "year": "Tahun", "signing_date": "Tanggal penandatanganan",
        "must_act": "Yang harus bertindak", "history": "Riwayat", "when": "Waktu", "who": "Oleh",
        "event": "Peristiwa", "from": "Dari", "to": "Ke", "comment": "Catatan", "via": "Melalui",
        "acting_for": "a.n.", "late": "TERLAMBAT", "left": "sisa", "actions": "Tindakan Anda",
        "reason": "Alasan (wajib untuk mengembalikan)", "no_actions": "Tidak ada tindakan untuk Anda saat ini.",
        "done": "Tercatat", "now_state": "Tahap sekarang", "page": "Halaman", "next": "Berikutnya",
        "prev": "Sebelumnya", "filter": "Saring", "all": "semua", "overdue_by": "Terlambat",
        "count": "dokumen", "link_moved": "Tautan ini sudah tidak berlaku: dokumen telah berpindah tahap "
        "atau langkah ini sudah dilakukan. Tidak ada yang diubah.",
        "link_gone": "Tautan ini tidak berlaku (salah atau lebih dari 30 hari).",
        "link_for": "Tautan pribadi untuk", "confirm": "Lakukan", "error": "Tidak dapat dilakukan",
        "back": "Kembali", "not_found": "Halaman tidak ditemukan.", "version": "Versi",
        "signed_out": "Anda sudah keluar.", "language": "English", "time_left": "Sisa waktu",
        "status": "Status", "final": "selesai", "content": "Isi dokumen", "file": "Berkas",
        "attached_by": "Dilampirkan oleh", "download": "Unduh", "no_content": "Belum ada berkas yang dilampirkan.",
        "upload": "Berkas baru (PDF, DOCX, XLSX, ODT)", "attach": "Lampirkan",
        "upload_hint": "Paling besar {} MB; hanya selama draf.", "record": "Lembar pengesahan",
    },
    "en": {
        "app": "ikuflow", "tasks": "My tasks", "overdue": "Overdue", "report": "Report",
        "sign_in": "Sign in", "sign_out": "Sign out", "email": "E-mail address",
        "sign_in_intro": "Type the address the directory has for you. We send a sign-in link that works for "
                         "15 minutes, once.",
        "send_link": "Send me a sign-in link",
        "sent": "If that address is in the directory, a sign-in link is on its way. Check your inbox; the "
                "link works for 15 minutes.",
        "link_intro": "Press the button below to sign in as the owner of this link.",
        "link_bad": "This sign-in link no longer works (used, expired or wrong). Ask for a new one.",
        "ask_again": "Ask for a new link",
        "signed_in_as": "Signed in as", "nothing": "Nothing waits for you.",
        "document": "Document", "state": "State", "due": "Due", "office": "Office",
        "division": "Division", "year": "Year", "signing_date": "Signing date",
        "must_act": "Who must act", "history": "History", "when": "When", "who": "By",
        "event": "Event", "from": "From", "to": "To", "comment": "Comment", "via": "Via",
        "acting_for": "for", "late": "OVERDUE", "left": "left", "actions": "Your actions",
        "reason": "Reason (required to send back)", "no_actions": "Nothing for you to do now.",
        "done": "Recorded", "now_state": "Current state", "page": "Page", "next": "Next",
        "prev": "Previous", "filter": "Filter", "all": "all", "overdue_by": "Overdue by",
        "count": "documents", "link_moved": "This link no longer works: the document has moved on or this "
        "step is done. Nothing was changed.",
        "link_gone": "This link does not work (wrong, or older than 30 days).",
        "link_for": "Personal link for", "confirm": "Do it", "error": "Could not be done",
        "back": "Back", "not_found": "Page not found.", "version": "Version",
        "signed_out": "You are signed out.", "language": "Bahasa Indonesia", "time_left": "Time left",
        "status": "Status", "final": "final", "content": "Content", "file": "File",
        "attached_by": "Attached by", "download": "Download", "no_content": "No file attached yet.",
        "upload": "New file (PDF, DOCX, XLSX, ODT)", "attach": "Attach",
        "upload_hint": "At most {} MB; only while in draft.", "record": "Signing record",
    },
}

TEXT: dict[str, Words] = {lang: Words(words) for lang, words in _TEXT.items()}
