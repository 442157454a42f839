<?php
$secret  = 'your_webhook_signing_secret';
$payload = file_get_contents('php://input');
$ts  = $_SERVER['HTTP_X_WEBHOOK_TIMESTAMP'] ?? '';
$sig = $_SERVER['HTTP_X_WEBHOOK_SIGNATURE'] ?? '';

if ($secret && $sig) {
    $expected = 'sha256=' . hash_hmac('sha256', "$ts.$payload", $secret);
    if (!hash_equals($expected, $sig)) {
        http_response_code(401);
        exit('Bad signature');
    }
}

$data = json_decode($payload, true);
error_log("DLR: {$data['message_id']} -> {$data['status']}");
echo 'OK';
