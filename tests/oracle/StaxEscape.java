// Test oracle: how the Woodstox StAX writer escapes text and attribute
// values. The SMEV transform's output escaping is defined by this writer
// (SMEV-NOTES §3.3), so mezhved's transform is compared against it.
//
// Protocol, one request per line on stdin: "T <base64 UTF-8>" (text) or
// "A <base64 UTF-8>" (attribute value). One answer per line on stdout: the
// base64 of the escaped form.

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import javax.xml.stream.XMLOutputFactory;
import javax.xml.stream.XMLStreamWriter;

public class StaxEscape {
    public static void main(String[] args) throws Exception {
        XMLOutputFactory factory = new com.ctc.wstx.stax.WstxOutputFactory();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            boolean attribute = line.charAt(0) == 'A';
            String value = new String(Base64.getDecoder().decode(line.substring(2)), StandardCharsets.UTF_8);
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            XMLStreamWriter w = factory.createXMLStreamWriter(buf, "UTF-8");
            w.writeStartElement("r");
            if (attribute) {
                w.writeAttribute("a", value);
                w.writeCharacters("|");
            } else {
                w.writeCharacters("|");
                w.writeCharacters(value);
            }
            w.writeEndElement();
            w.close();
            String s = buf.toString(StandardCharsets.UTF_8);
            String escaped;
            if (attribute) {
                escaped = s.substring("<r a=\"".length(), s.length() - "\">|</r>".length());
            } else {
                escaped = s.substring("<r>|".length(), s.length() - "</r>".length());
            }
            out.println(Base64.getEncoder().encodeToString(escaped.getBytes(StandardCharsets.UTF_8)));
        }
    }
}
