// Writes the private key of one entry of a PKCS12 keystore as a PEM (PKCS#8) file, which
// keytool cannot do: cqlbulk's --tls-key reads PEM. Run as a single-file program:
//   java harness/ExportKey.java STORE PASSWORD ALIAS OUT.pem
import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyStore;
import java.util.Base64;

public class ExportKey {
    public static void main(String[] args) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (FileInputStream in = new FileInputStream(args[0])) {
            store.load(in, args[1].toCharArray());
        }
        Key key = store.getKey(args[2], args[1].toCharArray());
        String body = Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(key.getEncoded());
        Files.writeString(Path.of(args[3]), "-----BEGIN PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n");
    }
}
