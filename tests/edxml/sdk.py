"""edXML as the national axis's SDK writes it, for interop tests (SPEC section 3, issue 16).

Modelled on the SDK's published samples (shared/interop/edxml/edoc_new.edxml, status_0*.edxml):
the namespace declared as default on the root and again as `edXML:` on the envelope; every
header element prefixed; `Bussiness` (sic) after the TraceHeader; the placeholder `Signature`
copied from the SDK's example, unprefixed and therefore in the edXML namespace, with RSA-SHA1
and SHA-1 dummy values; `application/zip` in every Manifest Reference whatever the file; the
Attachment unprefixed except `edXML:ContentTransferEncoded`, which declares the prefix again.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime
from xml.sax.saxutils import escape

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

#: The SDK example's placeholder, values as it ships them (not a signature over anything).
PLACEHOLDER_SIGNATURE = """      <Signature>
        <SignedInfo>
          <CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315" />
          <SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1" />
          <Reference URI="">
            <Transforms>
              <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature" />
              <Transform Algorithm="http://www.w3.org/TR/xml-exc-c14n#" />
            </Transforms>
            <DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1" />
            <DigestValue>FwgIqsSYJshUS2+wlOM61L+q7Aw=</DigestValue>
          </Reference>
        </SignedInfo>
        <SignatureValue>GbVb8n9+qFxz466Ag0sbpVdLPs2R0+9JBekp12UyarAZjoG0W/kPZZJ1auRZDcNcrSwzgkQMpqrjwxcy3ejzbY/ON5USUPgoYNYM8p4wsgQpEAeQaZ+EWLkkEBxYjb+iWEiAjYuJI7gtJoOyENcOK4fO050SXp2ctOc32LJMA5eEI6Hw7sxhc2LAgcPiynJHdDW2Z+eut6QZiUsbIF9+S3T6u/tfLImw39dgSlCxupwLPHepxuiLOqyd08HeJGCZufg9WqRBVyLFM76uCIaP</SignatureValue>
        <KeyInfo>
          <X509Data>
            <X509SubjectName>CN=user05</X509SubjectName>
            <X509Certificate>MIIFqTCCBJG</X509Certificate>
          </X509Data>
        </KeyInfo>
      </Signature>
"""


def small_pdf(text: str = "Cong van so 15/UBND-VP") -> bytes:
    """A valid one-page PDF (correct xref offsets), generated rather than stored."""
    stream = zlib.compress(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@dataclass
class SdkAttachment:
    name: str
    data: bytes
    content_type: str = "application/pdf"  # the Attachment's own type
    manifest_type: str = "application/zip"  # what the SDK writes in every Reference
    content_id: str = "cid:209"


@dataclass
class SdkDocument:
    """The fields an SDK user fills in; `document_id=None` leaves MessageHeader/DocumentId out."""

    from_organ: str
    to: list[str]
    code_number: str = "15"
    code_notation: str = "UBND-VP"
    promulgation_date: date = date(2026, 11, 26)
    document_id: str | None = None
    subject: str = "V/v kết nối, liên thông phần mềm quản lý văn bản"
    trace_time: datetime = datetime(2026, 11, 26, 8, 15, 0)
    placeholder_signature: bool = True
    attachments: list[SdkAttachment] = field(default_factory=list)

    def standard_document_id(self) -> str:
        return (
            f"{self.from_organ},{self.promulgation_date:%Y/%m/%d},"
            f"{self.code_number}/{self.code_notation}"
        )


def _organ(tag: str, organ_id: str) -> str:
    return f"""        <edXML:{tag}>
          <edXML:OrganId>{organ_id}</edXML:OrganId>
          <edXML:OrganizationInCharge>Đơn vị {organ_id}</edXML:OrganizationInCharge>
          <edXML:OrganName>Đơn vị {organ_id}</edXML:OrganName>
          <edXML:OrganAdd>Số 1, đường Lê Lợi</edXML:OrganAdd>
          <edXML:Email>vanthu@gov.vn</edXML:Email>
          <edXML:Telephone>0383 840418</edXML:Telephone>
          <edXML:Fax>0383 843049</edXML:Fax>
          <edXML:Website>www.gov.vn</edXML:Website>
        </edXML:{tag}>
"""


def sdk_document(doc: SdkDocument) -> bytes:
    """The document as the SDK writes it to disk and posts it."""
    document_id = (
        f"        <edXML:DocumentId>{escape(doc.document_id)}</edXML:DocumentId>\n"
        if doc.document_id
        else ""
    )
    business_id = (
        f"          <edXML:DocumentId>{escape(doc.document_id)}</edXML:DocumentId>\n"
        if doc.document_id
        else ""
    )
    references = "".join(
        f"""        <edXML:Reference>
          <edXML:ContentId>{a.content_id}</edXML:ContentId>
          <edXML:ContentType>{a.manifest_type}</edXML:ContentType>
          <edXML:Description>{escape(a.name)}</edXML:Description>
          <edXML:AttachmentName>{escape(a.name)}</edXML:AttachmentName>
        </edXML:Reference>
"""
        for a in doc.attachments
    )
    attachments = "".join(
        f"""    <Attachment>
      <ContentId>{a.content_id}</ContentId>
      <AttachmentName>{escape(a.name)}</AttachmentName>
      <Description>{escape(a.name)}</Description>
      <ContentType>{a.content_type}</ContentType>
      <edXML:ContentTransferEncoded xmlns:edXML="{NS}">{base64.b64encode(a.data).decode()}</edXML:ContentTransferEncoded>
    </Attachment>
"""
        for a in doc.attachments
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
{_organ("From", doc.from_organ)}{"".join(_organ("To", t) for t in doc.to)}{document_id}        <edXML:Code>
          <edXML:CodeNumber>{escape(doc.code_number)}</edXML:CodeNumber>
          <edXML:CodeNotation>{escape(doc.code_notation)}</edXML:CodeNotation>
        </edXML:Code>
        <edXML:PromulgationInfo>
          <edXML:Place>Long An</edXML:Place>
          <edXML:PromulgationDate>{doc.promulgation_date:%Y/%m/%d}</edXML:PromulgationDate>
        </edXML:PromulgationInfo>
        <edXML:DocumentType>
          <edXML:Type>1</edXML:Type>
          <edXML:TypeDetail>0</edXML:TypeDetail>
          <edXML:TypeName>Công văn</edXML:TypeName>
        </edXML:DocumentType>
        <edXML:Subject>{escape(doc.subject)}</edXML:Subject>
        <edXML:Content>{escape(doc.subject)}</edXML:Content>
        <edXML:SignerInfo>
          <edXML:Competence>TL. CHỦ TỊCH</edXML:Competence>
          <edXML:Position>Chánh Văn phòng</edXML:Position>
          <edXML:FullName>Nguyễn Văn A</edXML:FullName>
        </edXML:SignerInfo>
        <edXML:DueDate>{doc.promulgation_date:%Y/%m/%d}</edXML:DueDate>
        <edXML:OtherInfo>
          <edXML:Priority>0</edXML:Priority>
          <edXML:SphereOfPromulgation>Liên thông văn bản quốc gia</edXML:SphereOfPromulgation>
          <edXML:TyperNotation>TVC</edXML:TyperNotation>
          <edXML:PromulgationAmount>1</edXML:PromulgationAmount>
          <edXML:PageAmount>1</edXML:PageAmount>
        </edXML:OtherInfo>
        <edXML:SteeringType>1</edXML:SteeringType>
        <edXML:ToPlaces>
          <edXML:Place>Như trên</edXML:Place>
        </edXML:ToPlaces>
      </edXML:MessageHeader>
      <edXML:TraceHeaderList>
        <edXML:TraceHeader>
          <edXML:OrganId>{doc.from_organ}</edXML:OrganId>
          <edXML:Timestamp>{doc.trace_time:%Y/%m/%d %H:%M:%S}</edXML:Timestamp>
        </edXML:TraceHeader>
        <edXML:Bussiness>
{business_id}          <edXML:BussinessDocType>0</edXML:BussinessDocType>
          <edXML:BussinessDocReason>Văn bản điện tử mới</edXML:BussinessDocReason>
          <edXML:Paper>0</edXML:Paper>
          <edXML:StaffInfo>
            <edXML:Department>Văn thư văn phòng</edXML:Department>
            <edXML:Staff>Nguyễn Thị Ngọc Trâm</edXML:Staff>
            <edXML:Email>vanthuvanphong@gov.vn</edXML:Email>
            <edXML:Mobile>84912000001</edXML:Mobile>
          </edXML:StaffInfo>
        </edXML:Bussiness>
      </edXML:TraceHeaderList>
{PLACEHOLDER_SIGNATURE if doc.placeholder_signature else ""}    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
{references}      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
{attachments}  </AttachmentEncoded>
</edXML>
""".encode()


def sdk_status(
    *,
    from_organ: str,
    response_to: str,
    document_id: str,
    code: str,
    status_code: str = "03",
    timestamp: datetime = datetime(2026, 11, 26, 10, 0, 0),
) -> bytes:
    """A status message as the SDK writes it (status_03_accepted.edxml's layout)."""
    parts = document_id.split(",")
    promulgated = parts[1] if len(parts) >= 3 else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From>
\t\t\t<edXML:OrganId>{from_organ}</edXML:OrganId>
\t\t\t<edXML:OrganName>Đơn vị {from_organ}</edXML:OrganName>
        </edXML:From>
        <edXML:ResponseFor>
\t\t\t<edXML:OrganId>{response_to}</edXML:OrganId>
\t\t\t<edXML:Code>{escape(code)}</edXML:Code>
\t\t\t<edXML:PromulgationDate>{promulgated}</edXML:PromulgationDate>
\t\t\t<edXML:DocumentId>{escape(document_id)}</edXML:DocumentId>
        </edXML:ResponseFor>
\t\t<edXML:StaffInfo>
\t\t\t<edXML:Department>Phong hanh chinh</edXML:Department>
\t\t\t<edXML:Staff>Nguyen thi ngoc tram</edXML:Staff>
\t\t</edXML:StaffInfo>
        <edXML:StatusCode>{status_code}</edXML:StatusCode>
        <edXML:Description>Văn thư: Đã tiếp nhận</edXML:Description>
        <edXML:Timestamp>{timestamp:%Y/%m/%d %H:%M:%S}</edXML:Timestamp>
      </edXML:MessageHeader>
    </edXML:edXMLHeader>
  </edXML:edXMLEnvelope>
</edXML>
""".encode()
